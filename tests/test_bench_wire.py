"""hgd-bench-wire measures the wire and bare ZeroMQ side by side, in alternating slices of one run."""

from __future__ import annotations

import pytest

from hgdagger.benchmarks import bench_wire


@pytest.mark.slow
def test_the_wire_and_bare_zeromq_are_timed_in_the_same_run():
    over = bench_wire.overhead(n=40, rounds=2)
    for kind in ("lowdim", "image"):
        assert over[f"bare_{kind}"]["n"] == over[f"wire_{kind}"]["n"] > 0  # one slice of each per round
        assert over[f"bare_{kind}"]["p50"] > 0 and over[f"wire_{kind}_inference"]["p50"] >= 0
    assert over["bare_image"]["p50"] > over["bare_lowdim"]["p50"]  # a 900 kB frame costs more than 56 bytes
