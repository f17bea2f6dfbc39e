"""Policies that see what a real arm sees: the camera encoders, their augmentation and statistics,
the observation sets that hide the simulator's state, and a pixel policy recorded, trained and
evaluated through the project's own runtime, recorder, trainer and sim."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
import torch

from hgdagger.common.observation_sets import OBSERVATION_SETS, cameras_in, observation_set
from policy_server.image_encoders import IMAGE_ENCODERS, SpatialSoftmax, make_image_encoder, random_shift
from policy_server.train import TrainConfig

torch.set_num_threads(1)


def test_a_random_shift_moves_each_frame_whole_and_repeats_its_border():
    frames = torch.randint(0, 256, (6, 12, 10, 3), dtype=torch.uint8)
    assert torch.equal(random_shift(frames, 0), frames)
    g = torch.Generator().manual_seed(3)
    shifted = random_shift(frames, 3, torch.Generator().manual_seed(3))
    dy = torch.randint(-3, 4, (6, 1, 1), generator=g).flatten().tolist()
    dx = torch.randint(-3, 4, (6, 1, 1), generator=g).flatten().tolist()
    for i in range(6):
        rows = np.clip(np.arange(12) + dy[i], 0, 11)
        cols = np.clip(np.arange(10) + dx[i], 0, 9)
        assert torch.equal(shifted[i], frames[i][rows][:, cols]), i
    assert any(dy) or any(dx)  # (some frame did move)


def test_spatial_softmax_finds_where_each_channel_peaks():
    maps = torch.zeros(1, 2, 9, 17)
    maps[0, 0, 0, 16] = 50.0  # top right
    maps[0, 1, 4, 8] = 50.0  # the centre
    x0, x1, y0, y1 = SpatialSoftmax()(maps)[0].tolist()
    assert (x0, y0) == pytest.approx((1.0, -1.0), abs=1e-3)
    assert (x1, y1) == pytest.approx((0.0, 0.0), abs=1e-3)


@pytest.mark.parametrize("name", sorted(IMAGE_ENCODERS))
def test_every_registered_encoder_maps_frames_to_features_and_learns(name):
    enc = make_image_encoder(name, 24, 8)
    frames = torch.randint(0, 256, (3, 32, 32, 3), dtype=torch.uint8)
    out = enc(frames)
    assert out.shape == (3, 24) and torch.isfinite(out).all()
    out.square().sum().backward()
    assert all(p.grad is not None for p in enc.parameters() if p.requires_grad)


def test_an_unknown_encoder_or_observation_set_is_named_with_the_choices():
    with pytest.raises(ValueError, match="unknown image encoder 'vit'.*spatial_softmax"):
        make_image_encoder("vit", 8, 8)
    with pytest.raises(ValueError, match="unknown observation set 'depth'.*pixels"):
        observation_set("depth")


def test_the_pixel_set_hides_every_object_pose_and_names_its_cameras():
    cfg = TrainConfig()
    observation_set("pixels").apply(cfg)
    assert cfg.lowdim_keys == ["gripper_pos", "joint_pos"] and cfg.use_images
    assert cfg.observation_keys() == ["gripper_pos", "joint_pos", "front_rgb", "wrist_rgb"]
    observation_set("state").apply(cfg)
    assert (cfg.lowdim_keys, cfg.use_images, cfg.observation_keys()) == (None, False, None)
    assert cameras_in({"joint_pos": (7,), "front_rgb": (64, 64, 3), "wrist_rgb": (64, 64, 3)}) == (("front", "wrist"), (64, 64))
    assert cameras_in({"joint_pos": (7,)}) == ((), None)
    with pytest.raises(ValueError, match="differ in size"):
        cameras_in({"front_rgb": (64, 64, 3), "wrist_rgb": (32, 32, 3)})
    assert set(OBSERVATION_SETS) >= {"state", "pixels"}


def test_the_loop_refuses_an_unknown_observation_set_in_one_line():
    from hgdagger.loop.config import LoopConfig

    with pytest.raises(ValueError, match="observations: 'depth' is not one of"):
        LoopConfig.from_dict({"observations": "depth"})
    assert LoopConfig.from_dict({"observations": "pixels"}).observations == "pixels"


@pytest.fixture(scope="module")
def pixel_run(tmp_path_factory):
    """Two scripted demonstrations of reach recorded from pixels through the loop's runtime and
    recorder, and a few training steps on them through hgd-train --observations pixels."""
    from hgdagger.common.record_queue import RecordQueue
    from hgdagger.loop.config import LoopConfig
    from hgdagger.loop.sessions import demonstrations
    from recorder.thread_writer import QueueWriter

    root = tmp_path_factory.mktemp("pixels")
    cfg = LoopConfig(task="reach", observations="pixels")
    records = RecordQueue(maxsize=10_000)
    writer = QueueWriter(records, root / "data", round_index=0)

    class Bar:
        def update(self, n):
            pass

    try:
        demonstrations(cfg, records, [0, 1], Bar())
    finally:
        writer.close()
    out = root / "checkpoints"
    proc = subprocess.run([sys.executable, "-m", "hgdagger.cli.train", "--data", str(root / "data"), "--observations",
                           "pixels", "--steps", "6", "--set", "batch_size=16", "--out", str(out), "--quiet",
                           "--threads", "1"], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return root, out / "last.pt", proc.stdout


def test_a_pixel_policy_trains_on_recorded_frames_and_keeps_their_statistics(pixel_run):
    from policy_server.checkpoint import load_checkpoint
    from recorder.dataset import load_episodes

    root, checkpoint, said = pixel_run
    assert "cameras front_rgb wrist_rgb" in said and "obs keys gripper_pos joint_pos" in said
    ck = load_checkpoint(checkpoint)
    layout = ck["layout"]
    assert layout["lowdim_keys"] == ["gripper_pos", "joint_pos"]
    assert layout["image_keys"] == ["front_rgb", "wrist_rgb"]
    assert layout["shapes"]["front_rgb"] == [64, 64, 3]
    frames = np.concatenate([ep.obs["wrist_rgb"] for ep in load_episodes(sorted((root / "data").rglob("*.hdf5")))])
    mean = ck["ema_state_dict"]["encoder.images.wrist_rgb.stats.mean"].flatten().numpy()
    assert mean == pytest.approx(frames.reshape(-1, 3).mean(0) / 255.0, abs=0.02)  # the data's, not the 0.5 default
    assert json.loads((checkpoint.parent / "train_config.json").read_text())["image_keys"] == ["front_rgb", "wrist_rgb"]


def test_a_pixel_policy_refuses_observations_without_its_cameras_and_is_evaluated_on_rendered_ones(pixel_run):
    from policy_server.checkpoint import load_policy
    from sim.evaluation import evaluate

    _, checkpoint, _ = pixel_run
    policy = load_policy(checkpoint, device="cpu")
    blind = {"joint_pos": np.zeros((1, 7), np.float32), "gripper_pos": np.zeros((1, 1), np.float32)}
    with pytest.raises(ValueError, match=r"missing keys \['front_rgb', 'wrist_rgb'\]"):
        policy.predict_chunks(blind)
    seen = []

    class Watching:
        info, supports_prefix = policy.info, False

        def predict_chunks(self, observations, **kw):
            seen.append({k: np.shape(v) for k, v in observations.items()})
            return policy.predict_chunks(observations, **kw)

    result = evaluate(Watching(), "reach", 2, seed=3, execute_steps=8, batch=2, progress=False)
    assert result.episodes == 2 and seen
    assert seen[0]["front_rgb"] == (2, 64, 64, 3) and seen[0]["wrist_rgb"] == (2, 64, 64, 3)


def test_withheld_cameras_are_a_uniform_grey_or_another_episodes_frames():
    from hgdagger.benchmarks.bench_pixels import withhold

    frames = np.random.default_rng(0).integers(0, 256, (3, 8, 8, 3), dtype=np.uint8)
    blank = withhold(frames, "blank")
    assert blank.shape == frames.shape and blank.dtype == np.uint8
    for i in range(3):
        assert (blank[i] == blank[i, 0, 0]).all()  # one colour per frame: nothing of the scene is left
        assert np.abs(blank[i, 0, 0].astype(float) - frames[i].reshape(-1, 3).mean(0)).max() <= 0.5
    shuffled = withhold(frames, "shuffle")
    assert all(np.array_equal(shuffled[i], frames[i - 1]) for i in range(3))
    alone = withhold(frames[:1], "shuffle")  # the last episode running has no other to borrow from
    assert (alone[0] == alone[0, 0, 0]).all()


def test_the_pixel_benchmark_runs_resumes_and_reports_every_policy(tmp_path, capsys):
    from hgdagger.benchmarks import bench_pixels

    argv = ["--parts", "success", "--task", "reach", "--demos", "2", "--episodes", "2", "--pixel-steps", "4",
            "--pixel-batch", "8", "--state-steps", "4", "--state-batch", "8", "--seeds", "0", "--threads", "1",
            "--runs", str(tmp_path / "runs"), "--out", str(tmp_path / "out")]
    report = bench_pixels.run(argv)
    for key in ("pixels", "state", "state_budget", "pixels_blank", "pixels_shuffle"):
        assert report["success"][key]["episodes"] == 2 and len(report["success"][key]["per_seed"]) == 1
    assert (tmp_path / "out" / "pixels_reach.png").stat().st_size > 0
    said = capsys.readouterr().out
    assert "cameras shuffled" in said and "state - pixels" in said
    seed_dir = tmp_path / "runs" / "reach_2demos" / "seed_0"
    stamp = (seed_dir / "state.json").stat().st_mtime_ns
    again = bench_pixels.run(argv)  # resumed: every stage is read back, nothing is trained again
    assert (seed_dir / "state.json").stat().st_mtime_ns == stamp
    assert again["success"] == report["success"]


def test_a_frame_is_fitted_to_the_policy_by_its_centre_and_area():
    from hgdagger.common.observation_sets import fit_frame

    wide = np.zeros((480, 640, 3), np.uint8)
    wide[:, :80] = (255, 0, 0)  # the columns a square policy cannot see
    wide[:, 560:] = (255, 0, 0)
    wide[:, 80:560] = (0, 0, 200)
    small = fit_frame(wide, (64, 64))
    assert small.shape == (64, 64, 3) and (small == (0, 0, 200)).all()
    tall = fit_frame(np.full((100, 50, 3), 7, np.uint8), (20, 20))
    assert tall.shape == (20, 20, 3) and (tall == 7).all()
    assert fit_frame(small, (64, 64)) is small
    assert fit_frame(small[:16, :16], (32, 32)).shape == (32, 32, 3)  # enlarged too


def _toy_server(image_shape):
    import threading

    from policy_server.server import PolicyServer, ServerConfig
    from policy_server.toy_policy import ToyConfig, ToyPolicy

    server = PolicyServer(ToyPolicy(ToyConfig(image_shape=image_shape)), ServerConfig(endpoint="tcp://127.0.0.1:*"))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    return server, thread


@pytest.mark.parametrize("camera_size", [None, (48, 64)])
def test_the_runtime_sends_frames_at_the_policys_size_and_refuses_a_robot_without_its_camera(camera_size):
    from hgdagger.common.types import Source
    from policy_server.client import ClientConfig
    from sim.driver import SimArmDriver
    from teleop.fetcher import ChunkFetcher
    from teleop.runtime import RobotRuntime, RuntimeConfig

    server, thread = _toy_server((24, 24, 3))
    cameras = ("front",) if camera_size else ()
    driver = SimArmDriver(task="reach", seed=0, cameras=cameras, image_size=camera_size or (128, 128))
    rt = RobotRuntime(driver, ChunkFetcher(ClientConfig(endpoint=server.bound_endpoint)), RuntimeConfig(realtime=False))
    sources = []
    rt.on_step = lambda step, source, sent: sources.append(source)
    try:
        if camera_size is None:  # nothing would ever answer: every step would hold without a word
            with pytest.raises(ValueError, match="reads front_rgb, which this robot does not give"):
                rt.start()
        else:  # 48x64 rendered, 24x24 served: the server checks every shape, so an unfitted frame gets no chunk
            rt.start()
            rt.run_episode(20)
            assert sources.count(Source.POLICY) >= 15, sources
    finally:
        rt.close()
        driver.close()
        server.stop()
        thread.join(5)


def test_the_speed_part_times_chunks_with_two_cameras_and_reads_training_rate_from_the_loss_log():
    from hgdagger.benchmarks import bench_pixels

    latency = bench_pixels.chunk_latency(batches=(1, 2), repeats=5)
    assert set(latency) == {"1", "2"}
    assert all(0 < v["p50_ms"] <= v["p99_ms"] for v in latency.values())
    policy = bench_pixels.pixel_layout_policy()
    assert set(policy.info.observation_shapes) == {"gripper_pos", "joint_pos", "front_rgb", "wrist_rgb"}
    rate = bench_pixels.training_rate(1, steps=30, batch=8)
    assert rate["threads"] == 1 and rate["n"] == 2 and rate["median"] > 0
