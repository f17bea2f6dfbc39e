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


def _rate(wins: int, trials: int) -> str:
    lo, hi = wilson(wins, trials)
    return f"{wins / trials:.2f} [{lo:.2f}, {hi:.2f}]" if trials else "-"


def _bc_of(r: RoundResult) -> dict | None:
    """Behavioural cloning at round r's labels: round 0's policy is both arms' (the same demonstrations)."""
    if r.round == 0:
        return {"success_rate": r.success_rate, "eval_successes": r.eval_successes, "eval_episodes": r.eval_episodes,
                "labels_so_far": r.labels_so_far, "episodes_recorded": r.episodes_recorded,
                "milestones_reached": r.milestones_reached}
    return r.bc


def _columns(rows: list[list[str]]) -> str:
    widths = [max(len(x) for x in col) for col in zip(*rows)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(rows[0], widths)), "  ".join("-" * w for w in widths)]
    return "\n".join(lines + ["  ".join(c.ljust(w) for c, w in zip(row, widths)) for row in rows[1:]])


def table(results: list[RoundResult]) -> str:
    """One row per round; with behavioural cloning at each round's labels beside it when the run has it.
    false alarms: takeovers in rollouts the policy won alone on the same seed, of those it won alone;
    misses: rollouts it lost alone that the supervisor never took over, of those it lost alone."""
    compared = any(r.bc for r in results)
    header = ["round", "data", "HG-DAgger success [95% CI]" if compared else "success (autonomous) [95% CI]"]
    header += ["BC, equal labels [95% CI]", "BC demos"] if compared else []
    header += ["interventions/ep", "human steps", "false alarms", "misses", "labels so far", "train s"]
    rows = [header]
    for r in results:
        row = [str(r.round), f"{r.episodes_recorded} {ROUND_0 if r.round == 0 else 'rollouts'}",
               _rate(r.eval_successes, r.eval_episodes)]
        if compared:
            bc = _bc_of(r)
            row += ["(same policy)" if r.round == 0 else _rate(bc["eval_successes"], bc["eval_episodes"]) if bc else "-",
                    str(bc["episodes_recorded"]) if bc else "-"]
        row += ["-" if r.round == 0 else f"{r.interventions_per_episode:.1f}",
                "-" if r.round == 0 else f"{100 * r.human_step_share:.0f}%", _share(r.false_alarm_rate),
                _share(r.miss_rate), str(r.labels_so_far), f"{r.train_seconds:.0f}"]
        rows.append(row)
    return _columns(rows)


def stage_table(last: RoundResult, milestones: list[str], expert_steps: list[float]) -> str:
    """Failure against horizon for the last round's policy and behavioural cloning at its labels; in
    brackets, of the episodes that reached the sub-goal before, the share that failed this one."""
    from hgdagger.common.horizon import failure_by_reached, failure_per_sub_goal

    arms = [("HG-DAgger", last.milestones_reached), ("BC, equal labels", (last.bc or {}).get("milestones_reached"))]
    arms = [(name, reached) for name, reached in arms if reached]
    rows = [["sub-goal", "expert's step"] + [name for name, _ in arms]]
    failures = {name: failure_by_reached(reached, len(milestones)) for name, reached in arms}
    per_stage = {name: failure_per_sub_goal(f) for name, f in failures.items()}
    for k, (goal, step) in enumerate(zip(milestones, expert_steps)):
        rows.append([goal, f"{step:.0f}"] + [f"{failures[name][k]:.2f} ({per_stage[name][k]:.2f})" for name, _ in arms])
    return _columns(rows)


def verdict(results: list[RoundResult]) -> str:
    """One sentence on what the run shows about HG-DAgger against behavioural cloning at equal labels
    (the last round's difference with Newcombe's 95% interval), or honestly that it does not."""
    from hgdagger.common.stats import difference_interval

    last = results[-1]
    bc = last.bc
    if not bc:
        return ""
    lo, hi = difference_interval(last.eval_successes, last.eval_episodes, bc["eval_successes"], bc["eval_episodes"])
    said = (f"With {last.labels_so_far} expert labels HG-DAgger succeeds {last.success_rate:.2f} against behavioural "
            f"cloning's {bc['success_rate']:.2f} with {bc['labels_so_far']} labels as {bc['episodes_recorded']} "
            f"demonstrations: a difference of {last.success_rate - bc['success_rate']:+.2f}, 95% CI "
            f"[{lo:+.2f}, {hi:+.2f}]")
    if lo > 0:
        return said + ", so in this run labels spent on the policy's own mistakes were worth more than as many spent on more demonstrations."
    if hi < 0:
        return said + ", so in this run behavioural cloning did better: it does not show the claim."
    return said + ", an interval that holds zero: this run does not separate them (hgd-bench-dagger compares over seeds)."


def _error_bars(points: list[tuple[float, int, int]]) -> list[list[float]]:
    """Asymmetric Wilson error bars for (rate, wins, trials) points."""
    return [[p - wilson(w, n)[0] for p, w, n in points], [wilson(w, n)[1] - p for p, w, n in points]]


def figure(results: list[RoundResult], title: str, milestones: list[str] | None = None,
           expert_steps: list[float] | None = None):
    """Success and interventions against rounds, success against expert labels (with behavioural
    cloning at equal labels when the run has it) and, on a task with sub-goals, failure against
    horizon for the last round's two policies. Legends sit above the plots, where no curve can be,
    whatever the numbers; round 0 is named as demonstrations."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rounds = [r.round for r in results]
    success = [r.success_rate for r in results]
    errors = _error_bars([(r.success_rate, r.eval_successes, r.eval_episodes) for r in results])
    labels = [r.labels_so_far for r in results]
    interventions = [r.interventions_per_episode if r.round else float("nan") for r in results]
    compared = [r for r in results if _bc_of(r)]
    staged = bool(milestones) and bool(expert_steps) and bool(results[-1].milestones_reached)
    fig, axes = plt.subplots(1, 3 if staged else 2, figsize=(16.5 if staged else 11, 4.6))
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
    axes[1].errorbar(labels, success, yerr=errors, marker="o", capsize=4, label="HG-DAgger (95% CI)")
    if len(compared) > 1:
        bcs = [_bc_of(r) for r in compared]
        axes[1].errorbar([b["labels_so_far"] for b in bcs], [b["success_rate"] for b in bcs],
                         yerr=_error_bars([(b["success_rate"], b["eval_successes"], b["eval_episodes"]) for b in bcs]),
                         marker="s", capsize=4, color="tab:red", label="behavioural cloning, equal labels (95% CI)")
        axes[1].legend(loc="lower left", bbox_to_anchor=(0, 1.02), ncol=2, frameon=False, borderaxespad=0,
                       fontsize="small")
    for r, x, y in zip(rounds, labels, success):
        axes[1].annotate(ROUND_0 if r == 0 else f"round {r}", (x, y), xytext=(6, 6), textcoords="offset points",
                         fontsize="small", color="dimgray")
    axes[1].margins(x=0.15)  # room for the last point's name inside the frame
    axes[1].set_xlabel("expert-labelled steps used so far")
    axes[1].set_ylabel("success rate")
    axes[1].set_ylim(-0.05, 1.05)
    if staged:
        _failure_against_horizon(axes[2], results[-1], milestones, expert_steps)
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def _failure_against_horizon(ax, last: RoundResult, milestones: list[str], expert_steps: list[float]) -> None:
    """The last round's policy and behavioural cloning at its labels: the share of evaluation episodes
    that never reach each sub-goal, at the step where the expert reaches it (compounding errors: a
    curve that bends upward, growing faster than the horizon)."""
    arms = [("HG-DAgger", last.milestones_reached, "tab:blue", "o"),
            ("behavioural cloning, equal labels", (last.bc or {}).get("milestones_reached"), "tab:red", "s")]
    from hgdagger.common.horizon import failure_by_reached

    for name, reached, colour, marker in arms:
        if not reached:
            continue
        failure = failure_by_reached(reached, len(milestones))
        n = len(reached)
        ax.errorbar(expert_steps, failure, yerr=_error_bars([(f, round(f * n), n) for f in failure]), marker=marker,
                    capsize=4, color=colour, label=name)
    ax.set_xticks(expert_steps, [f"{step:.0f}\n{goal}" for step, goal in zip(expert_steps, milestones)],
                  fontsize="small")
    ax.margins(x=0.08)
    ax.set_xlabel("horizon: the step at which the expert reaches each sub-goal")
    ax.set_ylabel(f"round {last.round}: episodes never reaching it")
    ax.set_ylim(-0.05, 1.05)
    ax.legend(loc="lower left", bbox_to_anchor=(0, 1.02), ncol=1, frameon=False, borderaxespad=0, fontsize="small")


def plot(results: list[RoundResult], path: Path, title: str, milestones: list[str] | None = None,
         expert_steps: list[float] | None = None) -> Path:
    import matplotlib.pyplot as plt

    fig = figure(results, title, milestones, expert_steps)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
