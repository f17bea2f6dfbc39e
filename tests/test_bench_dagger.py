"""The HG-DAgger vs BC benchmark's bookkeeping: the label budget, the compute budget, the slope."""

from __future__ import annotations

import numpy as np
import pytest

from benchmarks.bench_dagger import bc_config, loglog_slope
from loop.config import LoopConfig


def test_bc_gets_at_least_the_loops_labels_as_whole_demonstrations_and_the_loops_gradient_steps():
    cfg = LoopConfig(demos=30, rounds=3, train_steps=2000, finetune_steps=1000)
    bc = bc_config(cfg, labels_target=3001, demo_labels=1500)  # 50 labels per demonstration
    assert bc.demos == 61 and bc.rounds == 0 and bc.train_steps == 5000
    scratch = bc_config(LoopConfig(demos=30, rounds=2, train_steps=2000, from_scratch=True), 1500, 1500)
    assert scratch.demos == 30 and scratch.train_steps == 6000


@pytest.mark.parametrize("power", [1.0, 2.0])
def test_loglog_slope_recovers_the_growth_exponent(power):
    t = np.arange(1, 201)
    assert loglog_slope(list(0.01 * t**power)) == pytest.approx(power, abs=1e-6)
    assert np.isnan(loglog_slope([0.0] * 50))
