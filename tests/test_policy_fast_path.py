"""The batch-1 sampling fast path (issue 19) is the network's own function: after the weights change
(an optimiser step, a loaded state, a move), never a stale copy; checkpoints keep their Euler steps."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from policy_server import flow
from policy_server.checkpoint import load_checkpoint, save_checkpoint
from policy_server.model import ModelConfig
from policy_server.networks import MLPVelocity, NetConfig
from policy_server.policy import FlowPolicy
from policy_server.synthetic_chunks import reaching
from policy_server.train import TrainConfig, train

torch.set_num_threads(1)
TINY = NetConfig(hidden=48, depth=2, cond_dim=16, obs_hidden=32, time_dim=16)


def _net(seed: int = 0) -> MLPVelocity:
    torch.manual_seed(seed)
    net = MLPVelocity(horizon=4, action_dim=3, cfg=TINY).eval()
    with torch.no_grad():
        for p in net.parameters():  # away from the initialisation's zeros, so every weight matters
            p.normal_(0.0, 0.1)
    return net


def _same_function(net: MLPVelocity, batch: int = 1, grad: bool = False) -> None:
    x, cond = torch.randn(batch, 4, 3), torch.randn(batch, TINY.cond_dim)
    for t in (torch.zeros(batch), torch.full((batch,), 0.6), torch.rand(batch)):
        with torch.set_grad_enabled(grad):
            torch.testing.assert_close(net.conditioned(cond)(x, t), net(x, t, cond), atol=1e-5, rtol=1e-5)


def test_an_optimiser_step_is_seen_by_the_next_chunk():
    net = _net()
    _same_function(net)
    opt = torch.optim.SGD(net.parameters(), lr=0.5)
    net(torch.randn(2, 4, 3), torch.rand(2), torch.randn(2, TINY.cond_dim)).square().sum().backward()
    opt.step()
    _same_function(net)


def test_a_loaded_state_and_a_second_network_are_seen_too():
    net, other = _net(0), _net(1)
    _same_function(net)
    net.load_state_dict(other.state_dict())
    _same_function(net)
    _same_function(net, batch=5)


def test_the_guided_sampler_differentiates_through_the_fast_path():
    net = _net()
    _same_function(net, grad=True)
    x0, cond = torch.randn(1, 4, 3), torch.randn(1, TINY.cond_dim)
    prefix = torch.full((1, 4, 3), float("nan"))
    prefix[:, :2] = 0.3
    fast = flow.euler_integrate_guided(net.conditioned(cond), x0, prefix, torch.tensor([1]), steps=4)
    slow = flow.euler_integrate_guided(lambda x, t: net(x, t, cond), x0, prefix, torch.tensor([1]), steps=4)
    torch.testing.assert_close(fast, slow, atol=1e-5, rtol=1e-5)


def test_a_network_made_in_inference_mode_samples_too():
    with torch.inference_mode():
        net = MLPVelocity(horizon=4, action_dim=3, cfg=TINY).eval()
        x, t, cond = torch.randn(1, 4, 3), torch.zeros(1), torch.randn(1, TINY.cond_dim)
        torch.testing.assert_close(net.conditioned(cond)(x, t), net(x, t, cond), atol=1e-5, rtol=1e-5)


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    cfg = TrainConfig(model=ModelConfig(net=TINY), steps=5, batch_size=32, val_every=5, ckpt_every=5, warmup_steps=1)
    return train(reaching(200, horizon=16, seed=0), cfg, tmp_path_factory.mktemp("ck"), progress=False).checkpoint


def test_new_checkpoints_sample_with_five_steps_and_old_ones_with_the_ten_they_always_did(checkpoint, tmp_path):
    assert FlowPolicy.load(checkpoint, device="cpu").cfg.flow_steps == ModelConfig().flow_steps == 5
    old = load_checkpoint(checkpoint)
    del old["model_config"]["flow_steps"]  # as every file written before the setting existed
    save_checkpoint(tmp_path / "old.pt", {k: v for k, v in old.items() if k not in ("format", "version")})
    legacy = FlowPolicy.load(tmp_path / "old.pt", device="cpu")
    assert legacy.cfg.flow_steps == 10
    obs = {"joint_pos": np.zeros((1, 7), np.float32), "target_pos": np.full((1, 3), 0.2, np.float32)}
    noise = np.random.default_rng(0).standard_normal((1, 16, 8)).astype(np.float32)
    np.testing.assert_allclose(legacy.predict_chunks(obs, noise=noise),
                               legacy.predict_chunks(obs, noise=noise, steps=10), atol=1e-6)


@pytest.mark.parametrize("expansion", [1, 3])
def test_the_fast_path_holds_for_any_block_expansion(expansion):
    torch.manual_seed(0)
    net = MLPVelocity(horizon=4, action_dim=3, cfg=NetConfig(**{**TINY.__dict__, "expansion": expansion})).eval()
    assert net.blocks[0].fc1.out_features == TINY.hidden * expansion
    with torch.no_grad():
        for p in net.parameters():
            p.normal_(0.0, 0.1)
    _same_function(net)


def test_checkpoints_from_before_the_expansion_setting_load_with_the_blocks_they_have(tmp_path_factory):
    cfg = TrainConfig(model=ModelConfig(net=NetConfig(**{**TINY.__dict__, "expansion": 2})), steps=2, batch_size=16,
                      val_every=2, ckpt_every=2, warmup_steps=1)
    ck = train(reaching(100, horizon=16, seed=0), cfg, tmp_path_factory.mktemp("x2"), progress=False).checkpoint
    old = load_checkpoint(ck)
    del old["model_config"]["net"]["expansion"]  # as every file written before the setting existed
    path = tmp_path_factory.mktemp("old") / "old.pt"
    save_checkpoint(path, {k: v for k, v in old.items() if k not in ("format", "version")})
    assert FlowPolicy.load(path, device="cpu").model.velocity.blocks[0].fc1.out_features == 2 * TINY.hidden
