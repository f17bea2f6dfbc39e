"""Behaviour cloning in the real MuJoCo sim: demos -> dataset -> policy -> batched evaluation."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from policy_server.model import ModelConfig
from policy_server.networks import NetConfig
from policy_server.policy import FlowPolicy
from policy_server.sim_eval import collect_demos, episodes_to_dataset, evaluate
from policy_server.train import TrainConfig, train

torch.set_num_threads(1)


@pytest.mark.slow
def test_demos_train_and_evaluate_in_the_sim(tmp_path):
    demos = collect_demos("detour", 3, seed=0, progress=False, action_noise=0.01, noise_correlation=0.9)
    assert len(demos) == 3 and all(d.attrs["success"] for d in demos)
    assert {d.attrs["mode"] for d in demos} <= {-1.0, 1.0}
    ds = episodes_to_dataset(demos, 8)
    assert ds.action_dim == 8 and ds.obs["joint_pos"].shape[1:] == (7,) and len(ds) == sum(len(d.actions) for d in demos)
    cfg = TrainConfig(model=ModelConfig(net=NetConfig(hidden=32, depth=1, cond_dim=16, obs_hidden=32, time_dim=16)),
                      steps=20, batch_size=32, val_every=10, ckpt_every=20)
    p = FlowPolicy.load(train(ds, cfg, tmp_path, progress=False).checkpoint, device="cpu")
    ev = evaluate(p, "detour", 2, execute_steps=4, batch=2, progress=False, inpaint=True)
    assert ev.episodes == 2 and len(ev.ee_paths) == 2 and 0.0 <= ev.success_rate <= 1.0
    assert all(path.shape[1] == 3 and len(path) > 1 for path in ev.ee_paths)
    assert sum(ev.failures.values()) == sum(not s for s in ev.successes)
