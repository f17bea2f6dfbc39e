"""What the loop prints and draws: a table per round, and success / intervention curves."""

from __future__ import annotations

from pathlib import Path

from hgdagger.loop.round_loop import RoundResult


def wilson(successes: int, trials: int) -> tuple[float, float]:
    from hgdagger.common.stats import wilson_interval

    return wilson_interval(successes, trials)


ROUND_0 = "demonstrations"
"""What round 0 is: the expert's demonstrations, not a rollout with 100% human steps."""


def _share(rate: float | None) -> str:
    """A rate as a percentage; '-' where there is none (round 0, or no rollout of that kind)."""
    return "-" if rate is None else f"{100 * rate:.0f}%"


def table(results: list[RoundResult]) -> str:
    # false alarms: takeovers in rollouts the policy won alone on the same seed, of those it won alone;
    # misses: rollouts it lost alone that the supervisor never took over, of those it lost alone.
    header = ["round", "data", "success (autonomous)", "95% CI", "interventions/ep", "human steps", "false alarms",
              "misses", "labels so far", "train s"]
    rows = []
    for r in results:
        lo, hi = wilson(r.eval_successes, r.eval_episodes)
        rows.append([str(r.round), f"{r.episodes_recorded} {ROUND_0 if r.round == 0 else 'rollouts'}",
                     f"{r.success_rate:.2f} ({r.eval_successes}/{r.eval_episodes})", f"[{lo:.2f}, {hi:.2f}]",
                     "-" if r.round == 0 else f"{r.interventions_per_episode:.1f}",
                     "-" if r.round == 0 else f"{100 * r.human_step_share:.0f}%", _share(r.false_alarm_rate),
                     _share(r.miss_rate), str(r.labels_so_far),
                     f"{r.train_seconds:.0f}"])
    widths = [max(len(x) for x in col) for col in zip(header, *rows)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(header, widths)), "  ".join("-" * w for w in widths)]
    lines += ["  ".join(c.ljust(w) for c, w in zip(row, widths)) for row in rows]
    return "\n".join(lines)


def figure(results: list[RoundResult], title: str):
    """Success and interventions against rounds, success against expert labels. The legend sits above
    the plots, where no curve can be, whatever the numbers; round 0 is named as demonstrations."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rounds = [r.round for r in results]
    success = [r.success_rate for r in results]
    errors = [[r.success_rate - wilson(r.eval_successes, r.eval_episodes)[0] for r in results],
              [wilson(r.eval_successes, r.eval_episodes)[1] - r.success_rate for r in results]]
    labels = [r.labels_so_far for r in results]
    interventions = [r.interventions_per_episode if r.round else float("nan") for r in results]
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.4))
    ok = axes[0].errorbar(rounds, success, yerr=errors, marker="o", capsize=4, label="autonomous success (95% CI)")
    axes[0].set_xlabel("round")
    axes[0].set_ylim(-0.05, 1.05)
    twin = axes[0].twinx()
    (inter,) = twin.plot(rounds, interventions, "s--", color="tab:orange", label="interventions / supervised rollout")
    twin.set_ylabel("interventions per episode")
    twin.set_ylim(bottom=0, top=max([x for x in interventions if x == x] + [1.0]) * 1.3)
    axes[0].set_xticks(rounds, [f"0\n{ROUND_0}" if r == 0 else str(r) for r in rounds])
    axes[0].set_ylabel("success rate")
    axes[0].legend([ok, inter], [ok.get_label(), inter.get_label()], loc="lower left", bbox_to_anchor=(0, 1.02),
                   ncol=2, frameon=False, borderaxespad=0, fontsize="small")
    axes[1].errorbar(labels, success, yerr=errors, marker="o", capsize=4)
    for r, x, y in zip(rounds, labels, success):
        axes[1].annotate(ROUND_0 if r == 0 else f"round {r}", (x, y), xytext=(6, 6), textcoords="offset points",
                         fontsize="small", color="dimgray")
    axes[1].margins(x=0.15)  # room for the last point's name inside the frame
    axes[1].set_xlabel("expert-labelled steps used so far")
    axes[1].set_ylabel("success rate")
    axes[1].set_ylim(-0.05, 1.05)
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def plot(results: list[RoundResult], path: Path, title: str) -> Path:
    import matplotlib.pyplot as plt

    fig = figure(results, title)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
