"""What the loop prints and draws: a table per round, and success / intervention curves."""

from __future__ import annotations

from pathlib import Path

from hgdagger.loop.round_loop import RoundResult


def wilson(successes: int, trials: int) -> tuple[float, float]:
    from hgdagger.common.stats import wilson_interval

    return wilson_interval(successes, trials)


def table(results: list[RoundResult]) -> str:
    header = ["round", "success (autonomous)", "95% CI", "interventions/ep", "human steps", "labels so far", "train s"]
    rows = []
    for r in results:
        lo, hi = wilson(r.eval_successes, r.eval_episodes)
        rows.append([str(r.round), f"{r.success_rate:.2f} ({r.eval_successes}/{r.eval_episodes})", f"[{lo:.2f}, {hi:.2f}]",
                     "-" if r.round == 0 else f"{r.interventions_per_episode:.1f}",
                     "demos" if r.round == 0 else f"{100 * r.human_step_share:.0f}%", str(r.labels_so_far),
                     f"{r.train_seconds:.0f}"])
    widths = [max(len(x) for x in col) for col in zip(header, *rows)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(header, widths)), "  ".join("-" * w for w in widths)]
    lines += ["  ".join(c.ljust(w) for c, w in zip(row, widths)) for row in rows]
    return "\n".join(lines)


def plot(results: list[RoundResult], path: Path, title: str) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rounds = [r.round for r in results]
    success = [r.success_rate for r in results]
    errors = [[r.success_rate - wilson(r.eval_successes, r.eval_episodes)[0] for r in results],
              [wilson(r.eval_successes, r.eval_episodes)[1] - r.success_rate for r in results]]
    labels = [r.labels_so_far for r in results]
    interventions = [r.interventions_per_episode if r.round else float("nan") for r in results]
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    axes[0].errorbar(rounds, success, yerr=errors, marker="o", capsize=4, label="autonomous success")
    axes[0].set_xlabel("round")
    axes[0].set_ylim(-0.05, 1.05)
    twin = axes[0].twinx()
    twin.plot(rounds, interventions, "s--", color="tab:orange", label="interventions / episode")
    twin.set_ylabel("interventions per episode")
    twin.set_ylim(bottom=0, top=max([x for x in interventions if x == x] + [1.0]) * 1.3)
    axes[0].set_xticks(rounds)
    axes[0].set_ylabel("success rate (95% CI)")
    axes[0].legend(loc="upper left")
    twin.legend(loc="lower right")
    axes[1].errorbar(labels, success, yerr=errors, marker="o", capsize=4)
    axes[1].set_xlabel("expert-labelled steps used so far")
    axes[1].set_ylabel("success rate")
    axes[1].set_ylim(-0.05, 1.05)
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
