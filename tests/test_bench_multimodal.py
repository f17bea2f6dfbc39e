"""The averaging-trap benchmark runs end to end on a tiny budget and reports what it promises."""

from __future__ import annotations

import json

import pytest

from hgdagger.benchmarks import bench_multimodal


@pytest.mark.slow
def test_the_multimodal_benchmark_writes_rates_with_intervals_fork_statistics_and_a_picture(tmp_path):
    argv = ["--demos", "4", "--episodes", "3", "--steps", "30", "--batch-size", "32", "--seeds", "0",
            "--out", str(tmp_path / "out"), "--ckpt-dir", str(tmp_path / "ck")]
    report = bench_multimodal.run(argv)
    saved = json.loads((tmp_path / "out" / "multimodal_detour.json").read_text())
    assert saved["success"].keys() == {"flow", "l2"}
    for head, row in saved["success"].items():
        assert 0.0 <= row["pooled_ci95"][0] <= row["mean"] <= row["pooled_ci95"][1] <= 1.0
        assert row["episodes_per_seed"] == 3 and len(row["per_seed"]) == 1
        fork = row["fork"][0]
        assert fork["left_fraction"] + fork["right_fraction"] == pytest.approx(fork["committed_fraction"])
    assert (tmp_path / "out" / "multimodal_detour.png").stat().st_size > 10_000
    assert report["args"]["chunk_labels"] == "plan" and report["args"]["action_noise"] > 0

    finished = {p: p.stat().st_mtime_ns for p in (tmp_path / "ck").rglob("*")}
    again = bench_multimodal.run(argv)  # resumed: every head's result is read back, nothing retrained
    assert {p: p.stat().st_mtime_ns for p in (tmp_path / "ck").rglob("*") if p in finished} == finished
    assert again["success"] == report["success"]


@pytest.mark.slow
def test_the_averaging_trap_benchmark_runs_from_pixels(tmp_path):
    from policy_server.checkpoint import load_checkpoint

    bench_multimodal.run(["--observations", "pixels", "--heads", "flow", "--demos", "2", "--episodes", "2",
                          "--steps", "4", "--batch-size", "8", "--seeds", "0", "--out", str(tmp_path / "out"),
                          "--ckpt-dir", str(tmp_path / "ck")])
    saved = json.loads((tmp_path / "out" / "multimodal_detour_pixels.json").read_text())
    assert saved["observations"] == "pixels" and saved["success"]["flow"]["episodes_per_seed"] == 2
    layout = load_checkpoint(tmp_path / "ck" / "detour_pixels_flow_seed0" / "last.pt")["layout"]
    assert layout["lowdim_keys"] == ["gripper_pos", "joint_pos"] and layout["image_keys"] == ["front_rgb", "wrist_rgb"]
