"""hgd-bench-recorder: is recording boring? Sustained rate, drops, jitter, bytes, CPU, compression,
indexing time, and what a kill -9 loses.

Set-up (as in deployment, minus the policy server): a producer loop at --hz (50 by default) in this
process stands in for the robot runtime -- each tick builds a StepRecord with two 480x640 uint8
cameras (a smooth scene plus Gaussian sensor noise, sigma 4) and low-dim state, puts it on the runtime's bounded
``RecordQueue``; ``teleop.record_sink.RecordForwarder`` sends it over ZeroMQ PUSH to an ``hgd-record``
subprocess. Jitter is the loop's |period - 20 ms| with recording and without it (same loop, records
not produced). Results: a table on stdout and ``benchmarks/results/recorder.json``.

  hgd-bench-recorder --seconds 300            # the full run (about 10 minutes in all)
  hgd-bench-recorder --seconds 30 --trials 5  # a quick look
  hgd-bench-recorder --hz 30 --image-storage jpeg --skip kill --skip index   # two cameras at 30 fps, 5 min
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from hgdagger.cli.arguments import add_image_storage, positive_float
from hgdagger.common.stats import print_table, spread

RESULTS = Path("benchmarks") / "results"  # relative to where the benchmark is run (the repository root)
HZ = 50.0
H, W = 480, 640


def noisy_frames(n: int, seed: int = 0, sigma: float = 4.0) -> list[np.ndarray]:
    """Camera-like frames: a smooth moving gradient scene plus per-pixel Gaussian noise."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:H, 0:W].astype(np.float32)
    out = []
    for i in range(n):
        base = np.stack([128 + 60 * np.sin((xx + 7 * i) / 90), 128 + 60 * np.cos(yy / 70 + i / 10),
                         96 + 0.2 * xx], -1)
        out.append(np.clip(base + rng.normal(0, sigma, base.shape), 0, 255).astype(np.uint8))
    return out


def step_record(t: int, frames: list[np.ndarray], rng: np.random.Generator, episode_id: str):
    from hgdagger.common import wire

    human = (t // 100) % 4 == 3
    a = rng.normal(size=8)
    nan = np.full(8, np.nan)
    obs = {"front_rgb": frames[t % len(frames)], "wrist_rgb": frames[(t + 7) % len(frames)],
           "joint_pos": rng.normal(size=7), "joint_vel": rng.normal(size=7), "ee_pos": rng.normal(size=3),
           "ee_quat": rng.normal(size=4), "gripper_pos": rng.random(1)}
    rec = wire.StepRecord(step=t, observation=obs, action=a, policy_action=nan if human else a,
                          human_action=a if human else nan, source=int(human), intervention=human,
                          timestamp=time.time(), chunk_id=t // 16, chunk_index=t % 16, checkpoint_id="bench-ckpt")
    rec.header.episode_id = episode_id
    return rec


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def start_recorder(out: Path, endpoint: str, image_storage: str = "raw", nice: int = 0) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "hgdagger.cli.record", "--endpoint", endpoint, "--out", str(out),
                             "--image-storage", image_storage, "--status-every", "1e9"],
                            preexec_fn=(lambda: os.nice(nice)) if nice else None,
                            stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


# --------------------------------------------------------------------------- sustained
def producer_loop(seconds: float, frames, records=None, episode_s: float = 30.0, realtime: bool = True,
                  hz: float = HZ) -> dict:
    """The control loop (50 Hz by default); with ``records`` (a RecordQueue) it records, else it only ticks. Like the
    runtime, the loop's thread asks for SCHED_FIFO (``realtime``)."""
    from hgdagger.common import wire
    from teleop.timing import JitterStats, Ticker, drop_realtime, try_realtime

    sched = try_realtime() if realtime else "normal scheduler"

    rng = np.random.default_rng(0)
    period = 1.0 / hz
    jitter, ticker = JitterStats(period), Ticker(period)
    per_ep = int(episode_s * hz)
    n = int(seconds * hz)
    put_ms = []
    ep = 0
    for t in range(n):
        jitter.tick(time.monotonic())
        if records is not None:
            k = t % per_ep
            eid = f"bench{ep}"
            t0 = time.perf_counter()
            if k == 0:
                s = wire.EpisodeStart(task="reach", kind="rollout", checkpoint_id="bench-ckpt", started_at=time.time())
                s.header.episode_id = eid
                records.put(s)
            records.put(step_record(k, frames, rng, eid))
            if k == per_ep - 1 or t == n - 1:
                e = wire.EpisodeEnd(outcome="success", success=True, num_steps=k + 1)
                e.header.episode_id = eid
                records.put(e)
                ep += 1
            put_ms.append((time.perf_counter() - t0) * 1e3)
        else:
            step_record(t % per_ep, frames, rng, "x")  # same work building the record, not sent
        ticker.wait()
    if realtime:
        drop_realtime()
    return jitter.summary() | {"overruns": ticker.overruns, "steps": n, "episodes": ep, "scheduler": sched,
                               "put_ms": spread(put_ms) if put_ms else None}


def sustained(seconds: float, baseline_s: float, work: Path, frames, realtime: bool = True, nice: int = 0,
              hz: float = HZ, image_storage: str = "raw") -> dict:
    from teleop.record_sink import RecordForwarder
    from hgdagger.common.record_queue import RecordQueue

    base = producer_loop(baseline_s, frames, realtime=realtime, hz=hz)
    out = work / "sustained" / "round_0" / "data"
    endpoint = f"ipc://{work}/sustained.sock"
    proc = start_recorder(out, endpoint, image_storage, nice=nice)
    time.sleep(1.5)
    cpu0, w0 = cpu_seconds(proc.pid), time.monotonic()
    q = RecordQueue(maxsize=2048)
    fwd = RecordForwarder(q, endpoint)
    rec = producer_loop(seconds, frames, q, realtime=realtime, hz=hz)
    fwd.close()
    deadline = time.monotonic() + 60
    while list(out.glob("*.partial")) and time.monotonic() < deadline:
        time.sleep(0.2)
    cpu = cpu_seconds(proc.pid) - cpu0
    wall = time.monotonic() - w0
    proc.send_signal(signal.SIGINT)
    stdout, _ = proc.communicate(timeout=60)
    stats = json.loads(stdout[stdout.index("{"):])
    files = sorted(out.glob("ep_*.hdf5"))
    size = sum(p.stat().st_size for p in files)
    written = stats["steps_written"]
    return {"seconds": seconds, "hz": hz, "image_storage": image_storage, "steps_produced": rec["steps"], "steps_written": written,
            "dropped": {"record_queue": q.dropped, "push_socket": fwd.dropped, "gaps_seen_by_recorder": stats["step_gaps"],
                        "not_written": rec["steps"] - written},
            "episodes": len(files), "bytes_per_step": size / max(written, 1), "mb_per_s": size / seconds / 1e6,
            "recorder_cpu_percent": 100 * cpu / wall, "jitter_with": rec, "jitter_without": base,
            "flushes": stats["flushes"], "flush_ms_mean": 1e3 * stats["flush_seconds"] / max(stats["flushes"], 1),
            "flush_ms_max": 1e3 * stats["flush_max_s"],
            "flush_interval_s": seconds / max(stats["flushes"], 1),
            "recorder_error": stats["error"]}


# --------------------------------------------------------------------------- compression
def compression(work: Path, frames, steps: int = 150) -> list[dict]:
    """Every image storage on three kinds of content: bytes, CPU and what the pixels lost."""
    from recorder.dataset import read_file
    from recorder.episode_writer import EpisodeMeta, EpisodeWriter
    from recorder.image_storage import STORAGES

    rng = np.random.default_rng(1)
    uniform = [rng.integers(0, 256, (H, W, 3), dtype=np.uint8) for _ in range(8)]
    clean = noisy_frames(8, sigma=0.0)
    rows = []
    for content, fr in (("scene+noise s=4", frames), ("clean scene", clean), ("uniform noise", uniform)):
        for comp in STORAGES:
            path = work / f"comp_{comp}_{content[:3]}.hdf5"
            w = EpisodeWriter(path, EpisodeMeta(task="reach"), image_storage=comp, flush_interval=1e9,
                              fsync=False)
            t_cpu, t0 = time.process_time(), time.perf_counter()
            for t in range(steps):
                w.append(step_record(t, fr, rng, "c"))
                if t % 25 == 24:
                    w.flush()
            w.finish("success")
            wall = time.perf_counter() - t0
            cpu = time.process_time() - t_cpu
            back = read_file(path, obs_keys=["front_rgb"])[0].obs["front_rgb"]
            sent = np.stack([fr[t % len(fr)] for t in range(steps)])
            err = np.abs(back.astype(np.int16) - sent).astype(np.float64)
            rows.append({"content": content, "storage": comp, "bytes_per_step": path.stat().st_size / steps,
                         "write_steps_per_s": steps / wall, "cpu_ms_per_step": 1e3 * cpu / steps,
                         "keeps_up_50hz": steps / wall > HZ * 1.5, "mean_abs_error": float(err.mean()),
                         "psnr_db": float(10 * np.log10(255**2 / max((err**2).mean(), 1e-12)))})
            path.unlink()
    return rows


# --------------------------------------------------------------------------- indexing
def indexing(work: Path, n_eps: int = 200, steps: int = 100) -> dict:
    from recorder.run import open_run
    from recorder.recording_session import RecordingSession
    from recorder.synthetic_episodes import episode_messages

    root = work / "index_run"
    t0 = time.perf_counter()
    for r in range(4):
        s = RecordingSession(root / f"round_{r}" / "data", fsync=False)
        for i in range(n_eps // 4):
            for m in episode_messages(steps, cameras=("front", "wrist"), image_size=(96, 128),
                                      episode_id=f"{r}-{i}", seed=i, takeover=(20, 40) if i % 2 else None):
                s.handle(m)
        s.close()
    build_s = time.perf_counter() - t0
    times = []
    for _ in range(5):
        t0 = time.perf_counter()
        run = open_run(root)
        times.append(time.perf_counter() - t0)
    assert len(run.episodes) == n_eps, len(run.episodes)
    return {"episodes": n_eps, "steps_each": steps, "cameras": "2 x 96x128", "build_s": build_s,
            "open_and_index_s": spread(times)}


# --------------------------------------------------------------------------- kill -9
def kill_trials(work: Path, frames, trials: int, ep_steps: int = 50, seed: int = 0) -> dict:
    import zmq

    from hgdagger.common import wire
    from recorder.recover import recover_run
    from recorder.run import read_file

    rnd = random.Random(seed)
    ctx = zmq.Context.instance()
    rng = np.random.default_rng(seed)
    finished_ok, finished_total, lost, ended_not_final, lost_all = 0, 0, [], 0, []
    for trial in range(trials):
        root = work / f"kill{trial}"
        out = root / "round_0" / "data"
        endpoint = f"ipc://{work}/kill{trial}.sock"
        proc = start_recorder(out, endpoint)
        push = ctx.socket(zmq.DEALER)  # the recorder is a ROUTER
        push.setsockopt(zmq.SNDHWM, 10_000)
        push.setsockopt(zmq.LINGER, 0)
        push.connect(endpoint)
        time.sleep(1.0)
        kill_at = time.monotonic() + rnd.uniform(1.0, 5.0)
        sent: dict[str, list[float]] = {}
        ended: list[str] = []
        ep, t = 0, 0
        period = 1.0 / HZ
        nxt = time.monotonic()
        while time.monotonic() < kill_at:
            eid = f"k{trial}_{ep}"
            if t == 0:
                s = wire.EpisodeStart(task="reach", env_args="{}", started_at=time.time())
                wire.send(push, s, episode_id=eid)
                sent[eid] = []
            rec = step_record(t, frames, rng, eid)
            wire.send(push, rec, episode_id=eid)
            sent[eid].append(rec.timestamp)
            t += 1
            if t == ep_steps:
                wire.send(push, wire.EpisodeEnd(outcome="success", success=True, num_steps=t), episode_id=eid)
                ended.append(eid)
                ep, t = ep + 1, 0
            nxt += period
            time.sleep(max(0.0, nxt - time.monotonic()))
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        push.close()
        current = f"k{trial}_{ep}" if t else None
        finals = {}
        for p in sorted(out.glob("ep_*.hdf5")):
            e = read_file(p, obs_keys=[])[0]
            finals[str(e.attrs["episode_id"])] = e
        finished_total += len(finals)
        finished_ok += sum(len(e.actions) == len(sent[k]) and e.attrs["label"] == "success" for k, e in finals.items())
        ended_not_final += sum(k not in finals for k in ended)
        recover_run(root)
        got_all = [read_file(p, obs_keys=[])[0] for p in sorted(out.glob("ep_*.hdf5"))]
        on_disk = sum(len(e.actions) for e in got_all)
        lost_all.append((sum(len(v) for v in sent.values()) - on_disk) * period)
        if current:
            got = [e for e in got_all if e.attrs["episode_id"] == current]
            last_sent = sent[current][-1]
            lost.append(last_sent - (got[0].timestamps[-1] if got else sent[current][0] - period))
        shutil.rmtree(root, ignore_errors=True)
    return {"trials": trials, "finished_files": finished_total, "finished_intact": finished_ok,
            "ended_but_not_finalised_at_kill": ended_not_final,
            "seconds_lost_of_current": spread(lost) | {"max": float(max(lost))} if lost else None,
            "seconds_lost_in_all": spread(lost_all) | {"max": float(max(lost_all))}}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="hgd-bench-recorder", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seconds", type=float, default=300.0, help="sustained recording duration (default 300)")
    p.add_argument("--baseline-seconds", type=float, default=60.0, help="loop without recording (default 60)")
    p.add_argument("--trials", type=int, default=20, help="kill -9 trials (default 20)")
    p.add_argument("--index-episodes", type=int, default=200, help="episodes in the run-index timing (default: 200)")
    p.add_argument("--work", type=Path, default=Path("/tmp"), help="where the recorded files go (default /tmp; "
                   "/dev/shm takes the disk out of the measurement)")
    p.add_argument("--recorder-nice", type=int, default=0, help="run hgd-record under `nice -n N` (sustained)")
    p.add_argument("--hz", type=positive_float, default=HZ, help=f"control rate of the sustained run (default {HZ:g})")
    add_image_storage(p)
    p.add_argument("--no-realtime", action="store_true", help="run the producer loop without SCHED_FIFO "
                   "(the runtime asks for it by default)")
    p.add_argument("--out", type=Path, default=RESULTS / "recorder.json", help="results JSON (default: %(default)s)")
    p.add_argument("--skip", action="append", default=[], choices=("sustained", "compression", "index", "kill"),
                   help="leave out a part (repeatable)")
    args = p.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="hgd-bench-rec-", dir=args.work))
    frames = noisy_frames(32)
    res: dict = {"machine": {"cpus": os.cpu_count()}, "args": {k: str(v) for k, v in vars(args).items()}}
    try:
        if "compression" not in args.skip:
            res["compression"] = compression(work, frames)
            print("\nimage storage (two 480x640 cameras + low-dim, one step = 2 frames; writer in this process)")
            print_table(["content", "storage", "bytes/step", "steps/s", "cpu ms/step", "keeps up 50 Hz", "PSNR"],
                        [[r["content"], r["storage"], f"{r['bytes_per_step'] / 1e6:.3f} MB",
                          f"{r['write_steps_per_s']:.0f}", f"{r['cpu_ms_per_step']:.1f}", r["keeps_up_50hz"],
                          "exact" if r["mean_abs_error"] == 0 else f"{r['psnr_db']:.1f} dB"]
                         for r in res["compression"]])
        if "index" not in args.skip:
            res["index"] = idx = indexing(work, args.index_episodes)
            s = idx["open_and_index_s"]
            print(f"\nopen and index a run of {idx['episodes']} episodes ({idx['steps_each']} steps, {idx['cameras']}): "
                  f"median {s['median']:.3f} s (p10 {s['p10']:.3f}, p90 {s['p90']:.3f}, n={s['n']})")
        if "kill" not in args.skip:
            res["kill"] = k = kill_trials(work, frames, args.trials)
            lost = k["seconds_lost_of_current"]
            print(f"\nkill -9 of hgd-record at a random moment, {k['trials']} trials: finished files intact "
                  f"{k['finished_intact']}/{k['finished_files']}; episodes whose EpisodeEnd was sent but not yet "
                  f"finalised at the kill (recovered from .partial): {k['ended_but_not_finalised_at_kill']}")
            if lost:
                print(f"seconds lost of the current episode: median {lost['median']:.2f} (p10 {lost['p10']:.2f}, "
                      f"p90 {lost['p90']:.2f}, max {lost['max']:.2f}, n={lost['n']})")
            la = k["seconds_lost_in_all"]
            print(f"seconds of steps sent but not on disk after hgd-recover (all episodes): median {la['median']:.2f} "
                  f"(p10 {la['p10']:.2f}, p90 {la['p90']:.2f}, max {la['max']:.2f})")
        if "sustained" not in args.skip:
            res["sustained"] = s = sustained(args.seconds, min(args.baseline_seconds, args.seconds), work, frames,
                                                  realtime=not args.no_realtime, nice=args.recorder_nice, hz=args.hz,
                                                  image_storage=args.image_storage)
            jw, jo = s["jitter_with"], s["jitter_without"]
            print(f"\nsustained recording, {s['seconds']:.0f} s at {args.hz:g} Hz, two 480x640 cameras ({args.image_storage}) + low-dim "
                  f"(producer loop -> RecordQueue -> PUSH -> hgd-record process)")
            print_table(["", "value"], [
                ["steps produced / written", f"{s['steps_produced']} / {s['steps_written']}"],
                ["dropped (queue / socket / gaps)", f"{s['dropped']['record_queue']} / {s['dropped']['push_socket']} / "
                                                    f"{s['dropped']['gaps_seen_by_recorder']}"],
                ["bytes per step", f"{s['bytes_per_step'] / 1e6:.2f} MB ({s['mb_per_s']:.0f} MB/s)"],
                ["recorder CPU", f"{s['recorder_cpu_percent']:.0f} % of one core"],
                ["flushes: count, mean interval, mean / max time",
                 f"{s['flushes']}, {s['flush_interval_s']:.2f} s, {s['flush_ms_mean']:.0f} / {s['flush_ms_max']:.0f} ms"],
                ["loop jitter p50/p99/max, recording", f"{jw['jitter_p50_ms']:.2f} / {jw['jitter_p99_ms']:.2f} / "
                                                      f"{jw['jitter_max_ms']:.2f} ms"],
                ["loop jitter p50/p99/max, not recording", f"{jo['jitter_p50_ms']:.2f} / {jo['jitter_p99_ms']:.2f} / "
                                                          f"{jo['jitter_max_ms']:.2f} ms"],
                ["producer loop scheduler", jw["scheduler"]],
                ["RecordQueue.put p50/p90", f"{jw['put_ms']['median']:.3f} / {jw['put_ms']['p90']:.3f} ms"],
                ["recorder error", s["recorder_error"] or "none"]])
    finally:
        shutil.rmtree(work, ignore_errors=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(res, indent=1))
    print(f"\nwrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
