"""HG-DAgger against behavioural cloning at an equal budget of expert labels, and the horizon effect.

For each seed: run the HG-DAgger loop (round 0 = demonstrations, then supervised rounds), count the
expert-labelled steps it used (demonstration steps + supervisor-controlled steps), then train
behavioural cloning on that many labels given as full demonstrations (the same first demonstrations
plus more), with as many gradient steps as the loop spent in all its rounds. Both go through the
same runtime, recorder, training and evaluation code, and are evaluated on the same episodes.

The horizon effect (Ross & Bagnell, AISTATS 2010; Ross et al., AISTATS 2011): a watching supervisor
scores every evaluation step against the expert; the mean number of off-track steps among the
first T grows like T^2 when errors compound (behavioural cloning) and like T when the policy has
been trained on its own states (DAgger). The log-log slope of that curve is reported.

On a task with sub-goals (pick_place_two: lift A, place A, lift B, place B) it also reports failure
against horizon: the share of evaluation episodes that never reach each sub-goal, placed at the step
where the expert reaches it.

    hgd-bench-dagger --task reach --seeds 0 1 2
    hgd-bench-dagger --task pick_place_two --preset manipulation --seeds 0 1 2 --jobs 3
    hgd-bench-dagger --plugin examples.point_reach --task point_reach --set relative_to='""' --jobs 2
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time
from pathlib import Path

import numpy as np

from hgdagger.benchmarks.parallel import map_seeds
from hgdagger.common.stats import print_table, wilson_interval

BENCH_PRESET = "default"
"""The loop settings the benchmark starts from unless --preset says otherwise (the loop's own defaults)."""


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    from hgdagger.loop.config import PRESETS

    p = argparse.ArgumentParser(
        prog="hgd-bench-dagger", description=__doc__.split("\n\n")[0] + " Writes JSON and PNGs.",
        epilog="examples:\n" + __doc__.rstrip().split("\n\n")[-1],
        formatter_class=type("Formatter", (argparse.ArgumentDefaultsHelpFormatter, argparse.RawDescriptionHelpFormatter), {}))
    p.add_argument("--task", default="reach", help="sim task (or a plugged-in one: --plugin)")
    p.add_argument("--plugin", action="append", default=[], metavar="MODULE",
                   help="import MODULE (a module name, or a path to a .py file) first, in every worker too: it "
                        "registers another gymnasium task (see sim/plugin.py)")
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2], help="loop seeds (data, training, evaluation)")
    p.add_argument("--preset", choices=sorted(PRESETS), default=BENCH_PRESET, help="loop settings to start from")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override one loop setting (JSON value)")
    p.add_argument("--jobs", type=int, default=1, help="seeds run in parallel processes")
    p.add_argument("--scratch-ablation", action="store_true",
                   help="also retrain on the loop's final data from scratch with BC's gradient steps: separates "
                   "what the data is worth from the loop's fine-tuning schedule")
    p.add_argument("--name", default=None,
                   help="what the results are called (run folder and JSON/PNG names); default: the task, and the "
                        "preset unless it is the default")
    p.add_argument("--runs", default="runs/bench_dagger",
                   help="run folders (resumable: rerun to continue; a finished seed's result.json is reused)")
    p.add_argument("--out", default="benchmarks/results", help="folder for the JSON and the PNGs")
    return p.parse_args(argv)


def loop_config(args: argparse.Namespace, seed: int):
    from hgdagger.common.settings import setting_value
    from hgdagger.loop.config import PRESETS, LoopConfig

    settings = dict(PRESETS[args.preset]) | {"task": args.task, "seed": seed}
    for item in args.set:
        key, _, value = item.partition("=")
        settings[key] = setting_value(value)
    # The benchmark runs behavioural cloning at the final round's labels itself (with its watched evaluation).
    return dataclasses.replace(LoopConfig.from_dict(settings), compare_bc=False)


def watched_eval(cfg, checkpoint: Path) -> dict:
    """The loop's evaluation episodes again, with a watching supervisor scoring every step."""
    import torch

    from policy_server.checkpoint import load_policy
    from hgdagger.common.horizon import cumulative_off_track, first_off_track
    from sim.evaluation import evaluate
    import sim

    torch.manual_seed(0)
    policy = load_policy(checkpoint, device="cpu")
    ev = evaluate(policy, cfg.task, cfg.eval_episodes, seed=900_000 + cfg.seed * 1_000,
                  execute_steps=cfg.execute_steps, progress=False, watch=True, supervisor_config=cfg.supervisor)
    horizon = sim.episode_limit(cfg.task)
    threshold, run = cfg.supervisor.divergence_ratio, cfg.supervisor.divergence_steps
    return {
        "success": ev.success_rate, "successes": int(sum(ev.successes)), "episodes": ev.episodes,
        "cumulative_off_track": cumulative_off_track(ev.divergences, ev.successes, horizon, threshold, run).tolist(),
        "first_off_track": first_off_track(ev.divergences, threshold, run).tolist(),
        "milestone_steps": ev.milestone_steps,
    }


def scratch_ablation(cfg, steps: int, base: Path, quiet: bool) -> dict:
    """The loop's final aggregated data (same weighting), trained from scratch for `steps` steps."""
    from hgdagger.loop.round_loop import evaluate_round, train_round
    from recorder import run_folder

    folder = base / "hgdagger_scratch"
    ckpt = folder / "last.pt"
    scfg = dataclasses.replace(cfg, from_scratch=True, train_steps=steps)
    if not ckpt.exists():
        ckpt, _ = train_round(scfg, base / "hgdagger", cfg.rounds, progress=not quiet, out=folder)
    wins, total, _ = evaluate_round(cfg, ckpt, progress=False)
    labels = json.loads(run_folder.eval_path(base / "hgdagger", cfg.rounds).read_text())["labels_so_far"]
    return {"success": wins / total, "successes": wins, "episodes": total, "labels": labels, "train_steps": steps,
            "watched": watched_eval(cfg, ckpt)}


def run_seed(args: argparse.Namespace, seed: int) -> dict:
    """The loop, then BC at its label budget, for one seed (its own process with --jobs > 1)."""
    import torch

    from hgdagger.loop import bc_arm
    from hgdagger.loop.round_loop import run_loop
    from recorder import run_folder

    from sim.plugin import load_plugins

    load_plugins(args.plugin)  # a spawned worker starts without its parent's registrations
    if args.jobs > 1:
        torch.set_num_threads(1)
    quiet = args.jobs > 1
    log = (lambda *_: None) if quiet else print
    cfg = loop_config(args, seed)
    base = Path(args.runs) / result_name(args) / f"seed{seed}"
    finished = base / "result.json"
    if finished.exists():  # this seed finished in an earlier session
        out = json.loads(finished.read_text())
        if args.scratch_ablation <= ("hgdagger_scratch" in out):
            print(f"seed {seed}: finished earlier ({finished})", flush=True)
            return out
    dagger = run_loop(cfg, base / "hgdagger", progress=not quiet, log=log)
    # Off track means what made the loop's supervisor act: its threshold as calibrated for this task.
    from hgdagger.loop.supervision import supervisor_for_run

    watch_cfg = dataclasses.replace(cfg, supervisor=supervisor_for_run(cfg.supervisor, cfg.task, base / "hgdagger",
                                                                       seed, cfg.control_hz))
    labels, demo_labels = dagger[-1].labels_so_far, dagger[0].labels_so_far
    round0 = json.loads(run_folder.sessions_path(base / "hgdagger", 0).read_text())
    bcfg = bc_arm.settings(cfg, cfg.rounds, labels, demo_labels, round0.get("episodes_used"))
    bc = run_loop(bcfg, base / "bc", progress=not quiet, log=log)
    out = {
        "seed": seed,
        "hgdagger": {"rounds": [r.__dict__ for r in dagger], "supervision": supervision(base / "hgdagger", cfg.rounds),
                     "watched": watched_eval(watch_cfg, run_folder.checkpoint_path(base / "hgdagger", cfg.rounds))},
        "bc": {"demos": bcfg.demos, "train_steps": bcfg.train_steps, "labels": bc[-1].labels_so_far,
               "success": bc[-1].success_rate, "successes": bc[-1].eval_successes, "episodes": bc[-1].eval_episodes,
               "watched": watched_eval(dataclasses.replace(bcfg, supervisor=watch_cfg.supervisor),
                                       run_folder.checkpoint_path(base / "bc", 0))},
        "bc_round0": {"success": dagger[0].success_rate, "labels": demo_labels},
    }
    if args.scratch_ablation:
        out["hgdagger_scratch"] = scratch_ablation(watch_cfg, bcfg.train_steps, base, quiet)
    print(f"seed {seed}: HG-DAgger {dagger[-1].success_rate:.2f} with {labels} labels; "
          f"BC {bc[-1].success_rate:.2f} with {bc[-1].labels_so_far} labels ({bcfg.demos} demos)", flush=True)
    run_folder.write_json(finished, out)
    return out


def supervision(run: Path, rounds: int) -> list[dict]:
    """Per supervised round of a loop run: its human-step share, the audit of its supervisor against
    the policy alone on the rollout seeds, and the setting it ran with (with its calibration)."""
    from recorder import run_folder

    out = []
    for r in range(1, rounds + 1):
        sessions = json.loads(run_folder.sessions_path(run, r).read_text())
        calibration = run_folder.round_dir(run, r) / "supervisor.json"
        out.append({"round": r, "human_step_share": sessions["human_step_share"],
                    "interventions_per_episode": sessions["interventions_per_episode"],
                    "audit": sessions.get("supervisor", {}),
                    "calibration": json.loads(calibration.read_text()) if calibration.exists() else None})
    return out


def summarise_supervision(per_seed: list[dict]) -> list[dict]:
    """Per supervised round, over seeds: human-step share (mean, sd) and the audited false-alarm and
    miss rates (per seed, and pooled over seeds' rollouts with a Wilson interval)."""
    rounds = [s["hgdagger"].get("supervision") for s in per_seed]
    if not all(rounds):
        return []
    out = []
    for k in range(min(len(r) for r in rounds)):
        rows = [r[k] for r in rounds]
        share = np.array([row["human_step_share"] for row in rows])
        entry = {"round": rows[0]["round"], "human_step_share": {"mean": float(share.mean()),
                 "std": float(share.std(ddof=1)) if len(share) > 1 else 0.0, "per_seed": share.tolist()},
                 "setting_per_seed": [[row["audit"].get("divergence_ratio"), row["audit"].get("divergence_steps")]
                                      for row in rows]}
        entry |= _pooled_audit([row["audit"] for row in rows])
        names = set.intersection(*(set(row["audit"].get("as_if", {})) for row in rows))
        entry["as_if"] = {name: _pooled_audit([row["audit"]["as_if"][name] for row in rows]) | {
            "setting_per_seed": [[row["audit"]["as_if"][name]["divergence_ratio"],
                                  row["audit"]["as_if"][name]["divergence_steps"]] for row in rows]}
            for name in sorted(names)}
        out.append(entry)
    return out


def _pooled_audit(audits: list[dict]) -> dict:
    """False alarms and misses over seeds: counts pooled, with a Wilson interval, and per seed."""
    out = {}
    for what, hits, of in (("false_alarms", "false_alarms", "alone_won"), ("misses", "misses", "alone_lost")):
        k_, n_ = [int(a.get(hits, 0)) for a in audits], [int(a.get(of, 0)) for a in audits]
        lo, hi = wilson_interval(sum(k_), sum(n_))
        out[what] = {"count": sum(k_), "of": sum(n_), "pooled_rate": sum(k_) / sum(n_) if sum(n_) else None,
                     "pooled_ci95": [lo, hi], "per_seed": [f"{a}/{b}" for a, b in zip(k_, n_)]}
    return out


def print_supervision(rows: list[dict]) -> None:
    """The supervisor per round: human steps, false alarms and misses (audited on the rollout seeds)."""
    def rate(m):
        if m["pooled_rate"] is None:
            return "-"
        return f"{m['count']}/{m['of']} = {m['pooled_rate']:.2f} [{m['pooled_ci95'][0]:.2f}, {m['pooled_ci95'][1]:.2f}]"

    print("\nthe supervisor per round (false alarm: a takeover in a rollout the policy wins alone on the same seed; "
          "miss: a rollout it loses alone, never taken over; pooled over seeds, Wilson 95% CI)")
    def setting(pairs):
        return " ".join("-" if t is None else f"{t:.2f}/{n}" for t, n in pairs)

    table = []
    for r in rows:
        table.append([r["round"], "rollouts (as run)", f"{100 * r['human_step_share']['mean']:.0f}% ± "
                      f"{100 * r['human_step_share']['std']:.0f}", rate(r["false_alarms"]), rate(r["misses"]),
                      setting(r["setting_per_seed"])])
        for name, label in (("configured", "as if uncalibrated"), ("expert_calibrated", "as if expert-calibrated"),
                            ("this_round", "as if this setting")):
            if name in r.get("as_if", {}):
                m = r["as_if"][name]
                table.append(["", label, "", rate(m["false_alarms"]), rate(m["misses"]), setting(m["setting_per_seed"])])
    print("(as if: the same replays, judged by the supervisor's rule at another setting: before and after calibration)")
    print_table(["round", "supervisor", "human steps mean ± sd", "false alarms", "misses", "threshold/steps per seed"],
                table)


def result_name(args: argparse.Namespace) -> str:
    """What the results are called: --name, else the task, and the preset unless it is the benchmark's default."""
    if getattr(args, "name", None):
        return args.name
    return args.task if args.preset == BENCH_PRESET else f"{args.task}_{args.preset}"


def loglog_slope(curve: list[float], start: int = 5) -> float:
    """Slope of log(cost) against log(T) over T >= start where cost > 0 (2 = quadratic, 1 = linear)."""
    t = np.arange(1, len(curve) + 1)
    c = np.asarray(curve, float)
    keep = (t >= start) & (c > 0)
    if keep.sum() < 3:
        return float("nan")
    return float(np.polyfit(np.log(t[keep]), np.log(c[keep]), 1)[0])


def summarise(per_seed: list[dict], milestones: tuple[str, ...] = ()) -> dict:
    from hgdagger.common.horizon import failure_by_milestone, failure_per_sub_goal

    def method(rates, wins, trials, labels):
        a = np.asarray(rates, float)
        lo, hi = wilson_interval(int(sum(wins)), int(sum(trials)))
        return {"mean": float(a.mean()), "std": float(a.std(ddof=1)) if len(a) > 1 else 0.0, "min": float(a.min()),
                "max": float(a.max()), "per_seed": rates, "pooled_ci95": [lo, hi],
                "per_seed_ci95": [list(wilson_interval(w, n)) for w, n in zip(wins, trials)],
                "episodes_per_seed": trials[0], "labels_mean": float(np.mean(labels))}

    last = [s["hgdagger"]["rounds"][-1] for s in per_seed]
    first = [s["hgdagger"]["rounds"][0] for s in per_seed]
    out = {
        "hgdagger": method([r["success_rate"] for r in last], [r["eval_successes"] for r in last],
                           [r["eval_episodes"] for r in last], [r["labels_so_far"] for r in last]),
        "bc": method([s["bc"]["success"] for s in per_seed], [s["bc"]["successes"] for s in per_seed],
                     [s["bc"]["episodes"] for s in per_seed], [s["bc"]["labels"] for s in per_seed]),
        "round0": method([r["success_rate"] for r in first], [r["eval_successes"] for r in first],
                         [r["eval_episodes"] for r in first], [r["labels_so_far"] for r in first]),
    }
    out["supervision"] = summarise_supervision(per_seed)
    if all("hgdagger_scratch" in s for s in per_seed):
        runs = [s["hgdagger_scratch"] for s in per_seed]
        out["hgdagger_scratch"] = method([r["success"] for r in runs], [r["successes"] for r in runs],
                                         [r["episodes"] for r in runs], [r["labels"] for r in runs])
    for name in [n for n in ("hgdagger", "bc", "hgdagger_scratch") if n in out]:
        curve = np.mean([s[name]["watched"]["cumulative_off_track"] for s in per_seed], axis=0)
        out[name]["cumulative_off_track"] = curve.tolist()
        out[name]["loglog_slope"] = loglog_slope(curve.tolist())
        if milestones:
            per = np.array([failure_by_milestone(s[name]["watched"]["milestone_steps"], len(milestones))
                            for s in per_seed])
            out[name]["failure_by_milestone"] = {"mean": per.mean(0).tolist(), "per_seed": per.tolist(),
                                                 "std": (per.std(0, ddof=1) if len(per) > 1 else 0 * per[0]).tolist(),
                                                 "per_stage": failure_per_sub_goal(per.mean(0)).tolist()}
    return out


def plot(per_seed: list[dict], summary: dict, task: str, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    staged = "milestones" in summary
    fig, axes = plt.subplots(1, 3 if staged else 2, figsize=(18 if staged else 12, 4.5))
    ax = axes[0]
    for s in per_seed:
        rounds = s["hgdagger"]["rounds"]
        ax.plot([r["labels_so_far"] for r in rounds], [r["success_rate"] for r in rounds], "o-", color="tab:blue",
                alpha=0.5, label="HG-DAgger (per seed, by round)" if s is per_seed[0] else None)
        ax.plot([s["bc"]["labels"]], [s["bc"]["success"]], "s", color="tab:red", alpha=0.6,
                label="BC at the same labels (per seed)" if s is per_seed[0] else None)
    for name, colour in (("hgdagger", "tab:blue"), ("bc", "tab:red"), ("hgdagger_scratch", "tab:green")):
        if name not in summary:
            continue
        m = summary[name]
        lo, hi = m["pooled_ci95"]
        ax.errorbar([m["labels_mean"]], [m["mean"]], yerr=[[m["mean"] - lo], [hi - m["mean"]]], fmt="D", ms=9,
                    color=colour, capsize=5, mec="black",
                    label="HG-DAgger data, retrained from scratch" if name == "hgdagger_scratch" else None)
    ax.set_xlabel("expert-labelled steps used")
    ax.set_ylabel("autonomous success (mean over seeds, pooled 95% CI)")
    ax.set_ylim(-0.05, 1.05)
    ax.set_title(f"{task}: HG-DAgger vs BC at equal labels ({len(per_seed)} seeds)")
    ax.legend(loc="lower right")

    ax = axes[1]
    for name, colour, label in (("bc", "tab:red", "BC"), ("hgdagger", "tab:blue", "HG-DAgger"),
                                ("hgdagger_scratch", "tab:green", "HG-DAgger data, from scratch")):
        if name not in summary:
            continue
        curve = np.asarray(summary[name]["cumulative_off_track"])
        t = np.arange(1, len(curve) + 1)
        ax.loglog(t, np.maximum(curve, 1e-3), color=colour, label=f"{label} (slope {summary[name]['loglog_slope']:.2f})")
    t = np.arange(1, len(curve) + 1)
    ref = np.asarray(summary["bc"]["cumulative_off_track"])[-1]
    ax.loglog(t, ref * (t / t[-1]) ** 2, "k:", lw=1, label="~T^2")
    ax.loglog(t, ref * (t / t[-1]), "k--", lw=1, label="~T")
    ax.set_ylim(bottom=1e-2)
    ax.set_xlabel("horizon T (control steps)")
    ax.set_ylabel("mean off-track steps among the first T")
    ax.set_title("the horizon effect")
    ax.legend(loc="upper left")
    if staged:
        plot_failure_by_milestone(axes[2], summary)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


LABELS = {"bc": "BC, equal labels", "hgdagger": "HG-DAgger", "hgdagger_scratch": "HG-DAgger data, from scratch"}


def plot_failure_by_milestone(ax, summary: dict) -> None:
    """Failure against horizon: the task cut off at each sub-goal, at the step the expert reaches it."""
    ms = summary["milestones"]
    t = np.asarray(ms["expert_steps_median"])
    for name, colour in (("bc", "tab:red"), ("hgdagger", "tab:blue"), ("hgdagger_scratch", "tab:green")):
        if name not in summary:
            continue
        f = summary[name]["failure_by_milestone"]
        ax.errorbar(t, f["mean"], yerr=f["std"], fmt="o-", color=colour, capsize=4, label=LABELS[name])
        ax.plot(t, f["mean"][0] * t / t[0], ":", color=colour, lw=1)
    for x, name in zip(t, ms["names"]):
        ax.annotate(name, (x, 0.0), textcoords="offset points", xytext=(0, 4), ha="center", fontsize=7, rotation=90)
    ax.set_xlabel("horizon: the expert's step at each sub-goal")
    ax.set_ylabel("share of episodes failing before it (mean ± sd over seeds)")
    ax.set_ylim(-0.02, 1.02)
    ax.set_title("failure against horizon (dotted: linear from the first sub-goal)")
    ax.legend(loc="upper left")


def run(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    started = time.time()
    per_seed = map_seeds(run_seed, args, args.seeds, args.jobs)
    import sim

    milestones = sim.task_milestones(args.task)
    summary = summarise(per_seed, milestones)
    if milestones:
        from sim.evaluation import expert_sub_goal_steps

        summary["milestones"] = {"names": list(milestones),
                                 "expert_steps_median": expert_sub_goal_steps(args.task, len(milestones), 20, seed=900_000)}
    episodes = summary["bc"]["episodes_per_seed"]
    print(f"\n{args.task}: {len(args.seeds)} seeds x {episodes} evaluation episodes ({time.time() - started:.0f} s)")
    rows = []
    for name, label in (("round0", "BC, round-0 demos only"), ("bc", "BC, equal labels"), ("hgdagger", "HG-DAgger"),
                        ("hgdagger_scratch", "HG-DAgger data, from scratch")):
        if name not in summary:
            continue
        m = summary[name]
        slope = f"{m['loglog_slope']:.2f}" if "loglog_slope" in m else "-"
        rows.append([label, f"{m['labels_mean']:.0f}", f"{m['mean']:.2f} ± {m['std']:.2f}",
                     f"[{m['pooled_ci95'][0]:.2f}, {m['pooled_ci95'][1]:.2f}]",
                     " ".join(f"{r:.2f}" for r in m["per_seed"]), slope])
    print_table(["method", "labels", "success mean ± sd", "pooled 95% CI", "per seed", "off-track slope"], rows)
    if summary["supervision"]:
        print_supervision(summary["supervision"])
    if milestones:
        print("\nfailure against horizon: share of evaluation episodes that never reached each sub-goal (mean ± sd over seeds)")
        ms = summary["milestones"]
        names = [n for n in ("bc", "hgdagger", "hgdagger_scratch") if n in summary]
        print("(in brackets: of the episodes that reached the previous sub-goal, the share that failed this one)")
        print_table(["sub-goal", "expert's step"] + [LABELS[n] for n in names],
                    [[m, f"{t:.0f}"] + [f"{summary[n]['failure_by_milestone']['mean'][k]:.2f} ± "
                                        f"{summary[n]['failure_by_milestone']['std'][k]:.2f} "
                                        f"({summary[n]['failure_by_milestone']['per_stage'][k]:.2f})" for n in names]
                     for k, (m, t) in enumerate(zip(ms["names"], ms["expert_steps_median"]))])
    png = out / f"dagger_{result_name(args)}.png"
    plot(per_seed, summary, args.task, png)
    report = {"task": args.task, "args": vars(args), "summary": summary, "per_seed": per_seed, "png": str(png)}
    (out / f"dagger_{result_name(args)}.json").write_text(json.dumps(report, indent=1))
    print(f"wrote {png} and {out / f'dagger_{result_name(args)}.json'}")
    return report


def task_problem(task: str, plugins: list[str], check_settings) -> str | None:
    """What is wrong with a benchmark's task, in one line, before any run folder is made (None: nothing):
    the plug-ins load, the task exists, ``check_settings()`` accepts the loop settings, and one expert
    step runs (a plug-in that breaks says so here)."""
    import sim
    from sim.plugin import PluginTaskError, load_plugins

    try:
        load_plugins(plugins)
    except PluginTaskError as exc:
        return str(exc)
    if task not in sim.task_names():
        return f"unknown task {task!r}; tasks: {', '.join(sim.task_names())}"
    try:
        check_settings()
    except (ValueError, TypeError) as exc:
        return str(exc)
    try:
        sim.check_task(task)
    except Exception as exc:
        return str(exc) if isinstance(exc, PluginTaskError) else f"task {task}: {type(exc).__name__}: {exc}"
    return None


def main(argv: list[str] | None = None) -> int:
    from hgdagger.cli.arguments import fail

    args = parse_args(argv)
    problem = task_problem(args.task, args.plugin, lambda: loop_config(args, args.seeds[0]))
    if problem:
        return fail(problem)
    run(argv)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
