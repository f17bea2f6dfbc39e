"""hgd-serve with a real trained flow checkpoint in a real process: chunks over the wire match the
policy, a reload switches, a broken checkpoint leaves the old one serving, RTC prefixes are taken."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from policy_server import synthetic_chunks as synthetic
from policy_server.client import ClientConfig, PolicyClient
from policy_server.model import ModelConfig
from policy_server.networks import NetConfig
from policy_server.train import TrainConfig, train

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory):
    torch.set_num_threads(1)
    ds = synthetic.bimodal(300, horizon=4, seed=0)
    net = NetConfig(hidden=32, depth=1, cond_dim=16, obs_hidden=16, time_dim=16, unet_channels=8)
    out = []
    for i in range(2):
        cfg = TrainConfig(model=ModelConfig(head="flow", net=net), steps=10 + i, batch_size=32, lr=1e-3,
                          warmup_steps=2, val_every=100, ckpt_every=100, seed=i)
        out.append(train(ds, cfg, tmp_path_factory.mktemp(f"ck{i}") / "checkpoints", progress=False).checkpoint)
    return out


@pytest.mark.slow
def test_serving_a_trained_checkpoint_with_reload(checkpoints, tmp_path):
    ep = f"ipc://{tmp_path}/srv"
    srv = subprocess.Popen([sys.executable, "-m", "hgdagger.cli.serve", "--checkpoint", str(checkpoints[0]), "--endpoint", ep,
                            "--device", "cpu", "--log-level", "WARNING"], cwd=ROOT, stdout=subprocess.PIPE,
                           stderr=subprocess.DEVNULL, text=True)
    try:
        assert "serving" in srv.stdout.readline()
        c = PolicyClient(ClientConfig(endpoint=ep, request_timeout_s=20))
        hs = c.connect(20)
        assert (hs.chunk_length, hs.action_dim, hs.observation_shapes) == (4, 2, {"x": [1]})
        assert hs.supports_prefix and hs.normalization_hash
        r = c.predict({"x": np.array([0.3])})
        assert r.actions.shape == (4, 2) and r.checkpoint_id == hs.checkpoint_id
        prefix = np.full((4, 2), np.nan, np.float32)
        prefix[:2] = [[0.5, 0.3], [0.6, 0.3]]
        r = c.predict({"x": np.array([0.3])}, prefix=prefix, frozen_steps=2)
        np.testing.assert_allclose(r.actions[:2], prefix[:2], atol=0.15)  # inpainted toward the prefix
        broken = tmp_path / "broken.pt"
        broken.write_bytes(checkpoints[1].read_bytes()[:200])
        bad = c.reload(str(broken), timeout_s=30)
        assert not bad.ok and "broken.pt" in bad.message and bad.checkpoint_id == hs.checkpoint_id
        good = c.reload(str(checkpoints[1]), timeout_s=30)
        assert good.ok, good.message
        assert c.predict({"x": np.array([0.3])}).checkpoint_id == good.checkpoint_id
        c.close()
    finally:
        srv.kill()


def test_a_request_gets_the_same_chunk_whatever_else_the_server_served(checkpoints):
    """Reproducible reruns: a request's flow noise depends on who asked, the episode and the request
    number, not on the server's history (here another robot's requests come first on one server)."""
    import threading

    from policy_server.checkpoint import load_policy
    from policy_server.server import PolicyServer, ServerConfig

    def chunks(busy_first: bool) -> list[np.ndarray]:
        server = PolicyServer(load_policy(checkpoints[0], device="cpu"), ServerConfig(endpoint="tcp://127.0.0.1:*"))
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            if busy_first:
                other = PolicyClient(ClientConfig(endpoint=server.bound_endpoint, robot_id="other"))
                other.connect(10)
                for _ in range(3):
                    other.predict({"x": np.array([0.3])})
                other.close()
            robot = PolicyClient(ClientConfig(endpoint=server.bound_endpoint, robot_id="arm"))
            robot.connect(10)
            out = [robot.predict({"x": np.array([0.3])}).actions for _ in range(3)]
            robot.close()
            return out
        finally:
            server.stop()
            thread.join(5)

    quiet, busy = chunks(False), chunks(True)
    for a, b in zip(quiet, busy):
        np.testing.assert_array_equal(a, b)
    assert not np.allclose(quiet[0], quiet[1])  # successive requests still get fresh noise
