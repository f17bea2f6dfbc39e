"""Recorded episodes can be verified: checksums written at close, every byte read back by
`hgd-inspect --verify`, and damage named per dataset."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import h5py

from recorder import layout
from recorder.recording_session import RecordingSession
from recorder.synthetic_episodes import episode_messages
from recorder.verify import verify_file

ROOT = Path(__file__).resolve().parents[1]


def record(folder: Path, episodes: int = 2, image_storage: str = "jpeg") -> list[Path]:
    s = RecordingSession(folder, flush_interval=0.0, image_storage=image_storage)
    for i in range(episodes):
        for m in episode_messages(12, cameras=("front",), episode_id=f"e{i}", seed=i):
            s.handle(m)
    s.close()
    return sorted(folder.glob("ep_*.hdf5"))


def flip_a_pixel(path: Path) -> None:
    """Change one byte inside the stored (uncompressed) camera frames, as a bad disk would."""
    with h5py.File(path, "r") as f:
        offset = f[f"data/{layout.DEMO}/obs/front_rgb"].id.get_chunk_info(3).byte_offset
    with open(path, "r+b") as fh:
        fh.seek(offset + 1000)
        byte = fh.read(1)
        fh.seek(offset + 1000)
        fh.write(bytes([byte[0] ^ 0xFF]))


def test_every_dataset_of_a_finished_episode_carries_its_checksum_and_verifies(tmp_path):
    (path, _) = record(tmp_path / "run" / "round_0" / "data")
    with h5py.File(path, "r") as f:
        g = f[f"data/{layout.DEMO}"]
        names = []
        g.visititems(lambda n, o: names.append(n) if isinstance(o, h5py.Dataset) else None)
        assert "obs/front_rgb" in names and "checkpoint" in names
        assert sorted(json.loads(g.attrs[layout.CHECKSUM_ATTR])) == sorted(names)
    v = verify_file(path)
    assert v.ok and not v.unverified


def test_a_flipped_pixel_reads_back_without_error_but_verify_names_it(tmp_path):
    paths = record(tmp_path / "run" / "round_0" / "data", image_storage="raw")
    flip_a_pixel(paths[1])
    with h5py.File(paths[1], "r") as f:  # h5py itself notices nothing
        assert f[f"data/{layout.DEMO}/obs/front_rgb"][()].shape[0] == 12
    v = verify_file(paths[1])
    assert not v.ok and any(d.startswith("obs/front_rgb: checksum") for d in v.damaged)
    out = subprocess.run([sys.executable, "-m", "hgdagger.cli.inspect_run", str(tmp_path / "run"), "--verify"],
                         cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.returncode == 1, out.stdout + out.stderr
    assert f"DAMAGED     {paths[1]}: obs/front_rgb: checksum" in out.stdout
    assert str(paths[0]) not in out.stdout and "1 damaged" in out.stdout


def test_a_truncated_file_is_damaged_not_listed_as_fine(tmp_path):
    paths = record(tmp_path / "run" / "round_0" / "data")
    data = paths[0].read_bytes()
    paths[0].write_bytes(data[: len(data) // 2])
    out = subprocess.run([sys.executable, "-m", "hgdagger.cli.inspect_run", str(tmp_path / "run"), "--verify"],
                         cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.returncode == 1 and f"DAMAGED     {paths[0]}" in out.stdout
    assert verify_file(paths[1]).ok


def test_a_damaged_jpeg_frame_is_named_by_verify(tmp_path):
    """JPEG frames live on the file's heap, not in chunks: a byte flipped inside one is caught by the
    column's checksum all the same."""
    paths = record(tmp_path / "run" / "round_0" / "data", episodes=1)
    with h5py.File(paths[0], "r") as f:
        ds = f[f"data/{layout.DEMO}/obs/front_rgb"]
        assert ds.attrs["image_codec"] == "jpeg"
        frame = bytes(ds[3])
    raw = bytearray(paths[0].read_bytes())
    at = raw.find(frame)
    assert at > 0 and raw.find(frame, at + 1) == -1
    raw[at + len(frame) // 2] ^= 0xFF
    paths[0].write_bytes(bytes(raw))
    v = verify_file(paths[0])
    assert [d.split(":")[0] for d in v.damaged] == ["obs/front_rgb"], v.damaged
