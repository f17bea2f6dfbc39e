"""The policy benchmark runs on a tiny budget and reports latency for both sampling paths."""

from __future__ import annotations

import json

import numpy as np
import pytest

from hgdagger.benchmarks import bench_policy
from policy_server.policy import FlowPolicy


@pytest.mark.slow
def test_the_policy_benchmark_times_the_bound_and_unbound_sampler_on_the_same_checkpoint(tmp_path):
    out = tmp_path / "policy.json"
    bench_policy.run(["--nets", "mlp", "--steps", "20", "--calls", "5", "--no-compile",
                      "--ckpt-dir", str(tmp_path / "ck"), "--out", str(out)])
    report = json.loads(out.read_text())
    row = report["rows"][0]
    for key in ("eager_b1", "eager_b8", "eager_unbound_b1", "eager_unbound_b8"):
        assert 0 < row[key]["p50_ms"] <= row[key]["p99_ms"]
    # Where a chunk's time goes: the Euler steps are inside the whole, each step inside all of them.
    us = report["chunk_parts"]["median_us"]
    assert 0 < us["one Euler step"] < us["5 Euler steps"] < us["whole chunk"]
    assert 0 < us["encoder"] < us["whole chunk"] and 0 < us["observation in"] < us["whole chunk"]
    ops = {r["op"]: r for r in report["chunk_parts"]["operations"]}
    assert ops["aten::addmm"]["calls"] >= 5 * 4  # every Euler step's matrices (input, blocks, head) at least
    # The two paths are the same function: same noise in, same chunk out.
    ck = tmp_path / "ck" / "mlp" / "last.pt"
    fast, slow = FlowPolicy.load(ck, device="cpu"), FlowPolicy.load(ck, device="cpu")
    slow.model.velocity = bench_policy.Unbound(slow.model.velocity)
    obs = {"joint_pos": np.zeros((2, 7), np.float32), "target_pos": np.ones((2, 3), np.float32)}
    noise = np.random.default_rng(0).standard_normal((2, 16, 8)).astype(np.float32)
    np.testing.assert_allclose(fast.predict_chunks(obs, noise=noise), slow.predict_chunks(obs, noise=noise), atol=1e-4)
