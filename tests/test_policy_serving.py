"""A trained checkpoint served by the real policy server over loopback ZeroMQ (hgd-serve's loader)."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import torch

from policy_server import synthetic_chunks as synthetic
from policy_server.checkpoint import load_policy
from policy_server.client import ClientConfig, PolicyClient
from policy_server.model import ModelConfig
from policy_server.networks import NetConfig
from policy_server.server import PolicyServer, ServerConfig
from policy_server.train import TrainConfig, train

torch.set_num_threads(1)
ROOT = Path(__file__).resolve().parents[1]


def _small_checkpoint(folder: Path) -> Path:
    cfg = TrainConfig(model=ModelConfig(net=NetConfig(hidden=32, depth=1, cond_dim=16, obs_hidden=32, time_dim=16)),
                      steps=20, batch_size=32, val_every=10, ckpt_every=10)
    return train(synthetic.bimodal(200, horizon=4), cfg, folder, progress=False).checkpoint


def test_checkpoint_serves_chunks_with_its_metadata(tmp_path):
    ck = _small_checkpoint(tmp_path)
    policy = load_policy(ck, device="cpu")
    server = PolicyServer(policy, ServerConfig(endpoint="tcp://127.0.0.1:*"), loader=lambda p: load_policy(p, "cpu"))
    t = threading.Thread(target=server.serve_forever, daemon=True)
    t.start()
    try:
        c = PolicyClient(ClientConfig(endpoint=server.bound_endpoint, request_timeout_s=5))
        c.connect(5)
        hs = c.handshake
        assert (hs.chunk_length, hs.action_dim) == (4, 2) and hs.supports_prefix
        assert hs.checkpoint_hash == policy.info.checkpoint_hash and hs.observation_shapes == {"x": [1]}
        r = c.predict({"x": np.array([0.2])})
        assert np.asarray(r.actions).shape == (4, 2) and np.all(np.isfinite(r.actions))
        c.close()
    finally:
        server.stop()
        t.join(5)


def test_hgd_serve_checkpoint_warms_up_before_listening_and_sends_doubt_after_chunks(tmp_path):
    ck = _small_checkpoint(tmp_path / "ck")
    endpoint = f"ipc://{tmp_path}/srv"
    with open(tmp_path / "server.log", "w") as log:
        srv = subprocess.Popen([sys.executable, "-m", "hgdagger.cli.serve", "--checkpoint", str(ck), "--endpoint", endpoint,
                                "--device", "cpu", "--max-batch", "2", "--doubt-samples", "4", "--log-level", "WARNING"],
                               cwd=ROOT, stdout=subprocess.PIPE, stderr=log, text=True)
    try:
        line = srv.stdout.readline()
        assert "serving" in line and "warmed up in" in line, line + (tmp_path / "server.log").read_text()
        c = PolicyClient(ClientConfig(endpoint=endpoint, request_timeout_s=5))
        c.connect(5)
        t0 = time.monotonic()
        first = c.predict({"x": np.array([0.2])})
        assert time.monotonic() - t0 < 1.0 and first.doubt == -1.0  # chunk first; its doubt comes later
        deadline = time.monotonic() + 20
        while (doubt := c.predict({"x": np.array([0.2])}).doubt) < 0 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert doubt > 0.0  # a flow policy's samples differ
        c.close()
    finally:
        srv.terminate()
        assert srv.wait(10) == 0
