"""Training mechanics: resume reproduces an uninterrupted run, fine-tuning keeps the checkpoint's
normalisation and refuses incompatible data, configs are saved beside checkpoints."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from policy_server import synthetic_chunks as synthetic
from policy_server.checkpoint import load_checkpoint
from policy_server.data import ChunkDataset, chunks_from_episode, stack_history
from policy_server.model import ModelConfig
from policy_server.networks import NetConfig
from policy_server.train import TrainConfig, train

torch.set_num_threads(1)


def cfg(steps: int = 60, **kw) -> TrainConfig:
    net = NetConfig(hidden=48, depth=1, cond_dim=16, obs_hidden=32, time_dim=16)
    return TrainConfig(model=ModelConfig(net=net), steps=steps, batch_size=32, warmup_steps=5, val_every=20,
                       ckpt_every=20, **kw)


def test_resume_after_preemption_reproduces_the_uninterrupted_run(tmp_path):
    ds = synthetic.bimodal(300, horizon=3)
    full = train(ds, cfg(), tmp_path / "full", progress=False)
    part = train(ds, cfg(), tmp_path / "cut", progress=False, stop_at=30)
    assert part.step == 30 and load_checkpoint(tmp_path / "cut" / "last.pt")["step"] == 30
    resumed = train(ds, cfg(), tmp_path / "cut", progress=False, resume=True)
    a, b = load_checkpoint(full.checkpoint), load_checkpoint(resumed.checkpoint)
    assert b["step"] == 60
    for key in ("state_dict", "ema_state_dict"):
        for name in a[key]:
            assert torch.equal(a[key][name], b[key][name]), (key, name)
    assert [h["step"] for h in b["history"]] == [20, 40, 60]


def test_config_is_saved_beside_and_inside_the_checkpoint(tmp_path):
    r = train(synthetic.bimodal(200, horizon=3), cfg(steps=20, seed=5), tmp_path, progress=False)
    beside = json.loads((tmp_path / "train_config.json").read_text())
    inside = load_checkpoint(r.checkpoint)["train_config"]
    assert beside == inside and beside["seed"] == 5 and beside["model"]["net"]["hidden"] == 48
    assert TrainConfig.from_dict(beside) == cfg(steps=20, seed=5)


def test_fine_tuning_keeps_normalisation_and_refuses_other_layouts(tmp_path):
    base = train(synthetic.bimodal(300, horizon=3, seed=0), cfg(steps=20), tmp_path / "base", progress=False)
    shifted = synthetic.bimodal(300, horizon=3, seed=1)
    shifted.actions[..., 1] += 5.0  # different statistics: must not be re-fitted when fine-tuning
    ft = train(shifted, cfg(steps=20), tmp_path / "ft", progress=False, init_from=base.checkpoint)
    a, b = load_checkpoint(base.checkpoint), load_checkpoint(ft.checkpoint)
    assert a["normalizer"] == b["normalizer"] and a["layout"] == b["layout"]
    other = ChunkDataset({"y": shifted.obs["x"]}, shifted.actions)
    with pytest.raises(ValueError, match=r"missing keys \['x'\]"):
        train(other, cfg(steps=5), tmp_path / "bad", progress=False, init_from=base.checkpoint)
    wide = ChunkDataset(shifted.obs, np.concatenate([shifted.actions, shifted.actions], -1))
    with pytest.raises(ValueError, match="A=4 but the checkpoint has H=3, A=2"):
        train(wide, cfg(steps=5), tmp_path / "bad2", progress=False, init_from=base.checkpoint)


def test_chunks_are_padded_at_the_episode_end_and_the_padding_is_marked():
    acts = np.arange(5, dtype=np.float32)[:, None]
    chunks, pad = chunks_from_episode(acts, 3)
    np.testing.assert_array_equal(chunks[3, :, 0], [3, 4, 4])
    np.testing.assert_array_equal(pad[3], [False, False, True])
    np.testing.assert_array_equal(chunks[0, :, 0], [0, 1, 2])
    assert not pad[:3].any() and pad[4].tolist() == [False, True, True]
    hist = stack_history(np.arange(4)[:, None], 3)
    np.testing.assert_array_equal(hist[:, :, 0], [[0, 0, 0], [0, 0, 1], [0, 1, 2], [1, 2, 3]])


def test_validation_holds_out_whole_episodes():
    ds = synthetic.bimodal(400, horizon=2)
    tr, va = ds.split(0.25, seed=0)
    assert va is not None and not set(tr.episode) & set(va.episode)
    assert len(tr) + len(va) == len(ds)


def test_relative_actions_round_trip_and_train(tmp_path):
    from hypothesis import given, settings
    from hypothesis.extra.numpy import arrays

    from policy_server.normalization import from_relative, to_relative
    from policy_server.policy import FlowPolicy

    @settings(max_examples=30, deadline=None)
    @given(arrays(np.float32, (3, 4, 5), elements={"min_value": -10, "max_value": 10}),
           arrays(np.float32, (3, 2), elements={"min_value": -10, "max_value": 10}))
    def inverse(chunks, ref):
        rel = to_relative(chunks, ref)
        np.testing.assert_allclose(rel[..., 2:], chunks[..., 2:])
        np.testing.assert_allclose(from_relative(rel, ref), chunks, atol=1e-5)

    inverse()
    ds = synthetic.reaching(800, horizon=4)
    c = cfg(steps=200, lr=2e-3)
    c.model.head, c.model.relative_to = "l2", "joint_pos"  # L2 learns this fastest
    r = train(ds, c, tmp_path, progress=False)
    p = FlowPolicy.load(r.checkpoint, device="cpu")
    obs = {k: v[:64] for k, v in ds.obs.items()}
    # Chunks come back in absolute units, closer to the truth than standing still.
    err, _ = synthetic.nearest_mode_error(p.predict_chunks(obs), obs["joint_pos"], obs["target_pos"])
    stay = np.concatenate([np.repeat(obs["joint_pos"][:, None], 4, 1), np.zeros((64, 4, 1), np.float32)], -1)
    err_stay, _ = synthetic.nearest_mode_error(stay, obs["joint_pos"], obs["target_pos"])
    assert err < 0.5 * err_stay, (err, err_stay)
    c.model.relative_to = "nope"
    with pytest.raises(ValueError, match="relative_to='nope' is not an observation key"):
        train(ds, c, tmp_path / "bad", progress=False)


def test_discrete_action_levels_are_found_and_outputs_snap_to_them():
    from policy_server.normalization import discrete_action_levels, snap_to_levels

    acts = np.stack([np.linspace(-1, 1, 50), np.repeat([0.0, 1.0], 25), np.full(50, 0.3)], axis=1)
    assert discrete_action_levels(acts) == {1: [0.0, 1.0]}  # continuous and constant dims are left alone
    snapped = snap_to_levels(np.array([[[0.2, 0.21, 5.0], [0.2, 0.7, 5.0]]]), {1: [0.0, 1.0]})
    np.testing.assert_array_equal(snapped, [[[0.2, 0.0, 5.0], [0.2, 1.0, 5.0]]])


def test_a_rate_limited_open_close_gripper_still_counts_as_two_valued():
    """What the runtime records: open/closed commands after the safety filter's ramp (0.2 a step)."""
    from policy_server.normalization import discrete_action_levels

    ramp_up, ramp_down = np.linspace(0, 1, 6)[1:-1], np.linspace(1, 0, 6)[1:-1]
    strokes = np.concatenate([np.zeros(60), ramp_up, np.ones(50), ramp_down] * 5)  # ramps: 7% of steps
    assert discrete_action_levels(strokes[:, None]) == {0: [0.0, 1.0]}
    # A continuous (leader-arm) gripper, and one whose "levels" leave values outside them, are not.
    assert discrete_action_levels(np.linspace(0, 1, 400)[:, None]) == {}
    overshoot = np.concatenate([strokes, [1.3] * 40])
    assert discrete_action_levels(overshoot[:, None]) == {}


def test_a_binary_gripper_in_the_data_gives_binary_policy_outputs_and_old_checkpoints_still_load(tmp_path):
    from policy_server.normalization import Normalizer
    from policy_server.policy import FlowPolicy

    ds = synthetic.bimodal(300, horizon=4, seed=0)
    ds.actions[..., 1] = (ds.actions[..., 1] > 0).astype(np.float32)  # dim 1 becomes open/closed
    ck = train(ds, cfg(20), tmp_path / "a", progress=False).checkpoint
    policy = FlowPolicy.load(ck, device="cpu")
    assert policy.normalizer.act_levels == {1: [0.0, 1.0]}
    out = policy.predict_chunks({"x": np.linspace(-1, 1, 16)[:, None].astype(np.float32)})
    assert set(np.unique(out[..., 1])) <= {0.0, 1.0} and len(np.unique(out[..., 0])) > 2

    plain = train(ds, cfg(20, snap_discrete_actions=False), tmp_path / "b", progress=False).checkpoint
    assert FlowPolicy.load(plain, device="cpu").normalizer.act_levels == {}
    old = Normalizer.from_dict({k: v for k, v in load_checkpoint(ck)["normalizer"].items() if k != "act_levels"})
    assert old.act_levels == {}
