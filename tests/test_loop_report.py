"""The round report says what round 0 is, and its legends never cover a curve or each other."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from hgdagger.loop.report import figure, plot, table
from hgdagger.loop.round_loop import RoundResult


def _results(rows):
    return [RoundResult(r, s / 50, 50, s, i, h, labels, 10.0, 30 if r == 0 else 10) for r, s, i, h, labels in rows]


CLIMBING = _results([(0, 21, 0.0, 1.0, 1688), (1, 33, 2.3, 0.49, 2141), (2, 42, 2.2, 0.47, 2579),
                     (3, 44, 2.0, 0.48, 2992)])
FALLING = _results([(0, 48, 0.0, 1.0, 1688), (1, 10, 6.3, 0.6, 2141), (2, 1, 0.2, 0.1, 2579), (3, 0, 0.1, 0.1, 2992)])


def test_round_0_is_called_demonstrations_not_a_share_of_human_steps():
    lines = table(CLIMBING).splitlines()
    header, r0, r1 = lines[0], lines[2], lines[3]
    assert "human steps" in header and r0.split()[0] == "0" and "30 demonstrations" in r0
    assert "%" not in r0 and "49%" in r1 and "10 rollouts" in r1


@pytest.mark.parametrize("results", [CLIMBING, FALLING], ids=["climbing", "falling"])
def test_legends_sit_where_no_curve_can_be(results, tmp_path):
    fig = figure(results, "HG-DAgger on reach (seed 0)")
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    legends = [ax.get_legend() for ax in fig.axes if ax.get_legend() is not None] + list(fig.legends)
    assert legends, "the report must say which curve is which"
    boxes = [leg.get_window_extent(renderer) for leg in legends]
    for box in boxes:
        for ax in fig.axes:
            assert not box.overlaps(ax.get_window_extent(renderer)), "a legend inside a plot can hide a curve"
            for line in ax.get_lines():
                xy = np.column_stack(line.get_data()).astype(float)
                for x, y in ax.transData.transform(xy[np.isfinite(xy).all(1)]):
                    assert not box.contains(x, y)
    for a, b in itertools.combinations(boxes, 2):
        assert not a.overlaps(b)
    names = [t.get_text() for t in fig.axes[0].get_xticklabels()]
    assert "demonstrations" in names[0]
    assert plot(results, tmp_path / "report.png", "t").stat().st_size > 10_000
