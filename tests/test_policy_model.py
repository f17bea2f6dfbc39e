"""The chunk policy end to end on tiny tasks: it learns, it keeps both modes, its checkpoints
round-trip and refuse what they should, real-time chunking follows the committed prefix."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from hgdagger.common.types import ChunkPolicy
from policy_server import synthetic_chunks as synthetic
from policy_server.checkpoint import CheckpointError, file_hash
from policy_server.data import ChunkDataset
from policy_server.model import ModelConfig
from policy_server.networks import NetConfig
from policy_server.policy import FlowPolicy
from policy_server.train import TrainConfig, train

torch.set_num_threads(1)
TINY = NetConfig(hidden=96, depth=2, cond_dim=32, obs_hidden=64, time_dim=32, unet_channels=16)


def tiny_cfg(head: str = "flow", net: str = "mlp", steps: int = 400, **kw) -> TrainConfig:
    nc = NetConfig(**{**TINY.__dict__, "velocity_net": net})
    return TrainConfig(model=ModelConfig(head=head, net=nc), steps=steps, batch_size=128, lr=2e-3,
                       warmup_steps=20, ema_decay=0.99, val_every=200, ckpt_every=200, **kw)


@pytest.fixture(scope="module")
def bimodal_runs(tmp_path_factory):
    """One flow and one L2 policy trained on the same bimodal data (shared by several tests)."""
    ds = synthetic.bimodal(1500, horizon=4, seed=0)
    out = {}
    for head in ("flow", "l2"):
        d = tmp_path_factory.mktemp(head)
        r = train(ds, tiny_cfg(head), d / "checkpoints", progress=False)
        out[head] = r
    return out


def test_flow_policy_keeps_both_modes_where_l2_averages_them(bimodal_runs):
    obs = {"x": np.array([0.3], np.float32)}
    flow = FlowPolicy.load(bimodal_runs["flow"].checkpoint, device="cpu")
    l2 = FlowPolicy.load(bimodal_runs["l2"].checkpoint, device="cpu")
    s = flow.sample(obs, 300, seed=0)
    last = s[:, -1, 0]  # the mode's full amplitude is 1.0 at the chunk's last step
    up, down = (last > 0.7).mean(), (last < -0.7).mean()
    assert up > 0.3 and down > 0.3 and up + down > 0.9, (up, down)
    assert np.abs(s[:, :, 1] - 0.3).mean() < 0.05  # the observation-following dim is learnt
    ls = l2.sample(obs, 10, seed=0)
    assert np.abs(ls[:, -1, 0]).max() < 0.3  # the average of +1 and -1: the averaging trap
    assert np.allclose(ls, ls[0])  # deterministic


def test_policy_satisfies_the_chunk_policy_protocol_and_api_shapes(bimodal_runs):
    p = FlowPolicy.load(bimodal_runs["flow"].checkpoint, device="cpu")
    assert isinstance(p, ChunkPolicy)
    assert (p.info.chunk_length, p.info.action_dim) == (4, 2)
    assert dict(p.info.observation_shapes) == {"x": (1,)}
    assert p.info.checkpoint_hash == file_hash(bimodal_runs["flow"].checkpoint)
    assert p.info.normalization_hash and p.info.checkpoint_id.endswith("step400")
    batch = {"x": np.linspace(-1, 1, 8, dtype=np.float32)[:, None]}
    assert p.predict_chunks(batch).shape == (8, 4, 2)
    assert p.predict({"x": np.array([0.1], np.float32)}).shape == (4, 2)
    a, b = p.sample({"x": np.array([0.1], np.float32)}, 5, seed=7), p.sample({"x": np.array([0.1], np.float32)}, 5, seed=7)
    np.testing.assert_array_equal(a, b)  # fixed noise: reproducible


def test_checkpoint_round_trip_reproduces_the_trained_model_exactly(bimodal_runs, tmp_path):
    ck = bimodal_runs["flow"].checkpoint
    copy = tmp_path / "copy.pt"
    copy.write_bytes(ck.read_bytes())
    a, b = FlowPolicy.load(ck, device="cpu"), FlowPolicy.load(copy, device="cpu")
    obs = {"x": np.array([[0.2], [-0.7]], np.float32)}
    noise = np.random.default_rng(0).standard_normal((2, 4, 2)).astype(np.float32)
    np.testing.assert_array_equal(a.predict_chunks(obs, noise=noise), b.predict_chunks(obs, noise=noise))
    assert a.info == b.info
    raw = FlowPolicy.load(ck, device="cpu", use_ema=False)
    assert not np.array_equal(raw.predict_chunks(obs, noise=noise), a.predict_chunks(obs, noise=noise))


def test_checkpoint_with_a_different_observation_layout_is_refused_naming_the_keys(bimodal_runs):
    ck = bimodal_runs["flow"].checkpoint
    with pytest.raises(ValueError, match=r"missing keys \['x'\].*unused: \['joint_pos'\]"):
        FlowPolicy.load(ck, observation_shapes={"joint_pos": (7,)})
    with pytest.raises(ValueError, match=r"x: expected \(1,\), got \(3,\)"):
        FlowPolicy.load(ck, observation_shapes={"x": (3,)})
    p = FlowPolicy.load(ck, observation_shapes={"x": (1,), "extra": (2,)}, device="cpu")  # extras are fine
    with pytest.raises(ValueError, match="missing keys"):
        p.predict_chunks({"y": np.zeros((1, 1), np.float32)})


def test_truncated_or_foreign_checkpoint_files_are_refused_with_the_file_name(bimodal_runs, tmp_path):
    data = bimodal_runs["flow"].checkpoint.read_bytes()
    bad = tmp_path / "truncated.pt"
    bad.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="truncated.pt"):
        FlowPolicy.load(bad)
    foreign = tmp_path / "foreign.pt"
    torch.save({"weights": torch.zeros(3)}, foreign)
    with pytest.raises(CheckpointError, match="foreign.pt.*not an hgd policy checkpoint"):
        FlowPolicy.load(foreign)
    with pytest.raises(CheckpointError, match="no such file"):
        FlowPolicy.load(tmp_path / "absent.pt")


def test_real_time_chunking_prefix_selects_the_mode_of_the_committed_actions(bimodal_runs):
    p = FlowPolicy.load(bimodal_runs["flow"].checkpoint, device="cpu")
    n, h = 200, 4
    obs = {"x": np.full((n, 1), 0.3, np.float32)}
    noise = np.random.default_rng(1).standard_normal((n, h, 2)).astype(np.float32)
    free = p.predict_chunks(obs, noise=noise)
    for sign in (1.0, -1.0):
        prefix = np.full((n, h, 2), np.nan, np.float32)
        prefix[:, :2, 0] = sign * (0.5 + 0.5 * np.arange(1, 3) / h)  # the first two steps of one mode
        prefix[:, :2, 1] = 0.3
        out = p.predict_chunks(obs, prefix=prefix, frozen_steps=np.full(n, 2), noise=noise)
        # Guidance is soft (Black et al. 2025, beta = 5): most, not all, chunks switch mode.
        assert (np.sign(out[:, -1, 0]) == sign).mean() > 0.9  # the whole chunk follows the prefix
        err, err_free = (np.abs(a[:, :2] - prefix[:, :2]).mean() for a in (out, free))
        assert err < 0.3 * err_free
    assert 0.2 < (free[:, -1, 0] > 0).mean() < 0.8  # without a prefix: both modes
    with pytest.raises(ValueError, match="prefix must be"):
        p.predict_chunks(obs, prefix=np.zeros((n, h + 1, 2), np.float32))


def test_zero_weight_samples_are_not_learnt(tmp_path):
    # Only the '+' samples carry weight (as HG-DAgger drops robot-controlled steps): flow gives '+'.
    ds = synthetic.bimodal(1200, horizon=4, seed=1)
    ds.weights = (ds.actions[:, -1, 0] > 0).astype(np.float32)
    r = train(ds, tiny_cfg(steps=300), tmp_path, progress=False)
    s = FlowPolicy.load(r.checkpoint, device="cpu").sample({"x": np.array([0.0], np.float32)}, 100, seed=0)
    assert (s[:, -1, 0] > 0.5).mean() > 0.95
    ds.weights[:] = 0
    with pytest.raises(ValueError, match="no samples with a positive weight"):
        train(ds, tiny_cfg(steps=10), tmp_path / "empty", progress=False)


def test_observation_history_is_used(tmp_path):
    # The action is the velocity x_t - x_{t-1}: unlearnable from one frame, easy from two.
    rng = np.random.default_rng(0)
    n = 1500
    hist = rng.uniform(-1, 1, (n, 2, 1)).astype(np.float32)
    vel = (hist[:, 1] - hist[:, 0])[:, None, :].repeat(2, 1)
    ds = ChunkDataset({"x": hist}, vel.astype(np.float32), episode=np.arange(n) // 10)
    cfg = tiny_cfg(head="l2", steps=400)
    cfg.model.obs_horizon = 2
    r = train(ds, cfg, tmp_path, progress=False)
    p = FlowPolicy.load(r.checkpoint, device="cpu")
    assert p.info.observation_shapes == {"x": (1,)}
    test = rng.uniform(-1, 1, (64, 2, 1)).astype(np.float32)
    pred = p.predict_chunks({"x": test})[:, 0, 0]
    assert np.abs(pred - (test[:, 1, 0] - test[:, 0, 0])).mean() < 0.1


@pytest.mark.slow
def test_compiled_sampler_matches_eager(bimodal_runs):
    ck = bimodal_runs["flow"].checkpoint
    eager, comp = FlowPolicy.load(ck, device="cpu"), FlowPolicy.load(ck, device="cpu", compile=True)
    obs = {"x": np.linspace(-1, 1, 3, dtype=np.float32)[:, None]}
    noise = np.random.default_rng(0).standard_normal((3, 4, 2)).astype(np.float32)
    np.testing.assert_allclose(comp.predict_chunks(obs, noise=noise), eager.predict_chunks(obs, noise=noise), atol=1e-4)


def test_images_go_through_the_cnn_and_decide_the_action(tmp_path):
    # The only cue is which half of a 16x16 image is bright: the policy must read the image.
    rng = np.random.default_rng(0)
    n = 600
    right = rng.random(n) < 0.5
    imgs = np.zeros((n, 16, 16, 3), np.uint8)
    imgs[right, :, 8:] = 255
    imgs[~right, :, :8] = 255
    acts = np.where(right, 1.0, -1.0)[:, None, None].repeat(2, 1).astype(np.float32)
    ds = ChunkDataset({"front_rgb": imgs, "joint_pos": np.zeros((n, 2), np.float32)}, acts, episode=np.arange(n) // 10)
    cfg = tiny_cfg(head="l2", steps=150, use_images=True)
    cfg.model.net.image_channels = 8
    r = train(ds, cfg, tmp_path, progress=False)
    p = FlowPolicy.load(r.checkpoint, device="cpu")
    assert p.info.observation_shapes == {"joint_pos": (2,), "front_rgb": (16, 16, 3)}
    out = p.predict_chunks({"front_rgb": imgs[:40], "joint_pos": np.zeros((40, 2), np.float32)})
    assert (np.sign(out[:, 0, 0]) == np.where(right[:40], 1, -1)).mean() > 0.95


@pytest.mark.parametrize("batch", [1, 8])
def test_the_mlp_sampling_fast_path_is_the_same_function_as_its_forward(batch):
    from policy_server.networks import MLPVelocity

    torch.manual_seed(0)
    net = MLPVelocity(horizon=6, action_dim=3, cfg=TINY).eval()
    for p in net.parameters():  # away from the initialisation's zeros, so every weight matters
        p.data.normal_(0.0, 0.1)
    x, t, cond = torch.randn(batch, 6, 3), torch.rand(batch), torch.randn(batch, TINY.cond_dim)
    with torch.no_grad():
        torch.testing.assert_close(net.conditioned(cond)(x, t), net(x, t, cond), atol=1e-5, rtol=1e-5)
