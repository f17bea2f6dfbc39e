"""Training an operator can interrupt: Ctrl-C saves a resumable checkpoint, --resume refuses to start
over silently, and the loss curve is a CSV and TensorBoard event files beside the checkpoints."""

from __future__ import annotations

import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from hgdagger.cli import train as train_cli
from policy_server.event_file import crc32c, masked_crc32c, read_events
from policy_server.loss_log import LossLog, read_csv
from policy_server.train import NothingToResume, TrainConfig, train
from policy_server.data import episodes_to_dataset
from recorded_runs import record_run
from recorder.dataset import load_episodes

torch.set_num_threads(1)
ROOT = Path(__file__).resolve().parents[1]
TINY = ["--set", "model.net.hidden=32", "model.net.depth=1", "model.net.cond_dim=16", "model.net.obs_hidden=32",
        "model.net.time_dim=16", "batch_size=16", "num_threads=1"]


def _train_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "hgdagger.cli.train", *args]


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["Ctrl-C", "SIGTERM"])
def test_ctrl_c_or_sigterm_saves_a_checkpoint_that_resume_continues_from(tmp_path, sig):
    data = record_run(tmp_path / "run", {0: [dict(kind="demo", takeover=None, steps=30)] * 3}) / "round_0" / "data"
    out = tmp_path / "ck"
    args = ["--data", str(data), "--out", str(out), "--steps", "1000000", "--horizon", "4", "--no-progress",
            *TINY, "log_every=5"]
    # SIGINT as a terminal delivers it, whatever the suite inherited: started as a shell's background job,
    # the suite ignores SIGINT, its children would too, and the latch rightly leaves an ignored SIGINT alone.
    proc = subprocess.Popen(_train_command(*args), cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        deadline = time.monotonic() + 120
        while len(read_csv(out / "loss.csv") if (out / "loss.csv").exists() else []) < 3:  # training is under way
            assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
            time.sleep(0.1)
        proc.send_signal(sig)  # (SIGTERM: what a scheduler or `kill` sends)
        stdout, stderr = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, stderr
    assert "Traceback" not in stderr
    said = next(line for line in stderr.splitlines() if "interrupted at step" in line)
    step = int(said.split("interrupted at step ")[1].split()[0])
    assert f"saved {out / 'last.pt'} (resumable)" in said and step >= 15
    ck = torch.load(out / "last.pt", weights_only=False)
    assert ck["step"] == step
    before = read_csv(out / "loss.csv")
    assert before[-1]["step"] == step  # the curve ends where the checkpoint is

    resume = shlex.split(stderr.split("resume with: ")[1].splitlines()[0])
    assert resume[0] == "hgd-train" and resume[-1] == "--resume"
    resume[resume.index("--steps") + 1] = str(step + 10)  # end soon after instead of a million steps later
    done = subprocess.run(_train_command(*resume[1:]), cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert f"done at step {step + 10} (resumed from step {step})" in done.stdout
    after = read_csv(out / "loss.csv")
    every_5_then_the_end = sorted({s for s in range(step + 1, step + 11) if s % 5 == 0} | {step + 10})
    assert after[:len(before)] == before and [r["step"] for r in after[len(before):]] == every_5_then_the_end
    assert torch.load(out / "last.pt", weights_only=False)["step"] == step + 10


def test_resume_with_nothing_to_resume_is_an_error_naming_the_folder(tmp_path, capsys):
    data = record_run(tmp_path / "run", {0: [dict(kind="demo", takeover=None, steps=12)]}) / "round_0" / "data"
    empty = tmp_path / "never_trained"
    code = train_cli.main(["--data", str(data), "--out", str(empty), "--steps", "2", "--resume", "--no-progress",
                           *TINY])
    err = capsys.readouterr().err
    assert code == 2 and f"nothing to resume in {empty}" in err and len(err.strip().splitlines()) == 1
    assert not (empty / "last.pt").exists()
    run = tmp_path / "run"
    assert train_cli.main(["--run", str(run), "--resume", "--no-progress", *TINY]) == 2
    assert f"nothing to resume in {run / 'round_0' / 'checkpoints'}" in capsys.readouterr().err
    ds = episodes_to_dataset(load_episodes([data]), 4)
    with pytest.raises(NothingToResume, match="never_trained"):
        train(ds, TrainConfig(steps=2), empty, resume=True, progress=False)


def test_the_loss_curve_is_a_csv_and_tensorboard_events(tmp_path):
    data = record_run(tmp_path / "run", {0: [dict(kind="demo", takeover=None, steps=25)] * 4}) / "round_0" / "data"
    out = tmp_path / "ck"
    assert train_cli.main(["--data", str(data), "--out", str(out), "--steps", "12", "--horizon", "4", "--no-progress",
                           *TINY, "log_every=5", "val_every=10", "val_fraction=0.25"]) == 0
    rows = read_csv(out / "loss.csv")
    assert [r["step"] for r in rows] == [5, 10, 12]
    assert [r["val_loss"] is not None for r in rows] == [False, True, True]
    assert all(r["train_loss"] > 0 and r["lr"] > 0 and r["samples_per_s"] > 0 for r in rows)
    (events,) = out.glob("events.out.tfevents.*")
    got = read_events(events)  # every record's two CRCs checked
    assert got[0].file_version == "brain.Event:2"
    train_points = {e.step: e.scalars["loss/train"] for e in got if "loss/train" in e.scalars}
    assert list(train_points) == [5, 10, 12]
    assert np.allclose(list(train_points.values()), [r["train_loss"] for r in rows], rtol=1e-4)
    assert [e.step for e in got if "loss/val" in e.scalars] == [10, 12]


def test_tensorboard_itself_reads_the_events(tmp_path):
    accumulator = pytest.importorskip("tensorboard.backend.event_processing.event_accumulator")
    log = LossLog(tmp_path)
    for step, loss in [(5, 0.9), (10, 0.5), (15, 0.25)]:
        log.write(step, loss, 0.7 if step == 10 else None, 3e-4, 1000.0, 0.1 * step)
    log.close()
    acc = accumulator.EventAccumulator(str(tmp_path))
    acc.Reload()
    assert set(acc.Tags()["scalars"]) == {"loss/train", "loss/val", "lr", "samples_per_s"}
    assert [(s.step, round(s.value, 6)) for s in acc.Scalars("loss/train")] == [(5, 0.9), (10, 0.5), (15, 0.25)]
    assert [s.step for s in acc.Scalars("loss/val")] == [10]


def test_crc32c_matches_the_published_test_vectors():
    assert crc32c(b"123456789") == 0xE3069283
    assert crc32c(b"") == 0
    assert crc32c(bytes(32)) == 0x8A9136AA  # RFC 3720 B.4
    assert crc32c(b"\xff" * 32) == 0x62A8AB43
    assert crc32c(bytes(range(32))) == 0x46DD794E
    c = crc32c(b"123456789")
    assert masked_crc32c(b"123456789") == ((((c >> 15) | (c << 17)) + 0xA282EAD8) & 0xFFFFFFFF)


def test_a_resumed_log_drops_the_rows_written_after_its_checkpoint(tmp_path):
    log = LossLog(tmp_path)
    for step in (5, 10, 15, 20):
        log.write(step, 1.0 / step, None, 1e-3, 10.0, step)
    log.close()
    log = LossLog(tmp_path, resume_from=10)  # the checkpoint was at 10; 15 and 20 died with the process
    log.write(15, 0.5, None, 1e-3, 10.0, 1.0)
    log.close()
    assert [r["step"] for r in read_csv(tmp_path / "loss.csv")] == [5, 10, 15]
    assert len(list(tmp_path.glob("events.out.tfevents.*"))) >= 1
    LossLog(tmp_path).close()  # a fresh run replaces the old curve
    assert read_csv(tmp_path / "loss.csv") == [] and len(list(tmp_path.glob("events.out.tfevents.*"))) == 1
