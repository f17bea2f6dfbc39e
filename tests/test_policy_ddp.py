"""Multi-process training: a real `torchrun --nproc_per_node 2` on CPU with the gloo backend."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from policy_server.policy import FlowPolicy

WORKER = Path(__file__).with_name("policy_ddp_worker.py")
ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_torchrun_two_processes_train_one_model_in_lockstep(tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
           str(WORKER), str(tmp_path), "150"]
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=170)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    r0 = torch.load(tmp_path / "rank0_of2.pt", weights_only=True)
    r1 = torch.load(tmp_path / "rank1_of2.pt", weights_only=True)
    # Different data on each rank (different batch seeds), yet identical weights: gradients were averaged.
    for k in r0:
        assert torch.equal(r0[k], r1[k]), k
    ck = tmp_path / "checkpoints" / "last.pt"
    assert ck.exists() and not list((tmp_path / "checkpoints").glob("*.tmp"))  # only rank 0 wrote it
    p = FlowPolicy.load(ck, device="cpu")
    s = p.sample({"x": np.array([0.0], np.float32)}, 200, seed=0)[:, -1, 0]
    assert (s > 0.5).mean() > 0.2 and (s < -0.5).mean() > 0.2  # it learnt both modes
