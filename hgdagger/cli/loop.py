"""hgd-loop: the unattended HG-DAgger loop in the sim, end to end — the project's main job."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from hgdagger.cli.arguments import existing_file, fail, reports_missing_extras, writable_folder
from hgdagger.common import threads
from hgdagger.common.observation_sets import observation_set
from hgdagger.common.settings import setting_value
from hgdagger.common.termination import unwind_on_sigterm
from hgdagger.cli.arguments import add_threads_argument
from recorder import run_folder


@reports_missing_extras
def main(argv: list[str] | None = None) -> int:
    from hgdagger.loop.config import PRESET_SUMMARIES, PRESETS

    p = argparse.ArgumentParser(
        prog="hgd-loop",
        description="Round 0: the scripted expert demonstrates through the real runtime and recorder; a "
        "flow-matching policy is trained. Each later round: the policy server (its own process, hot-reloaded) "
        "serves the newest checkpoint, the runtime rolls it out, a simulated supervisor takes over through the "
        "takeover gate when the policy heads for failure, everything is recorded, all rounds are aggregated and "
        "the policy retrained and evaluated (autonomous success, no supervisor). Prints a table per round and "
        "writes a plot. Rerun the same command to resume an interrupted run.",
        epilog="Examples:\n  hgd-loop --preset main --out runs/demo   # the main job (make demo): pick_place_two, BC beside every round\n"
        "  hgd-loop --out runs/hgdagger              # the loop's defaults: reach, a few minutes\n"
        "  hgd-loop --preset quick --out runs/quick\n"
        "  hgd-loop --out runs/long --set task=pick_place_two --set rounds=4\n"
        "  hgd-loop --robot koch_twin --preset quick --out runs/koch   # the Koch's physics twin, over its serial protocol\n"
        "  hgd-loop --plugin examples.point_reach --set task=point_reach --set relative_to='\"\"' --out runs/point",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", default="runs/hgdagger", help="the run folder (default runs/hgdagger)")
    p.add_argument("--preset", choices=sorted(PRESETS), default="default",
                   help="a named set of settings (hgdagger/loop/config.py); --set overrides single ones (default: "
                        "%(default)s). " + "; ".join(f"{name}: {PRESET_SUMMARIES[name]}" for name in sorted(PRESETS)))
    p.add_argument("--config", type=existing_file, help="a JSON file of loop settings (applied after the preset)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override one setting (JSON value)")
    p.add_argument("--plugin", action="append", default=[], metavar="MODULE",
                   help="import MODULE (a module name, or a path to a .py file) first: it registers another gymnasium "
                        "task (see sim/plugin.py)")
    p.add_argument("--robot", metavar="NAME_OR_PATH", default=None,
                   help="run on this robot's task (a sim task, or a twin with a task: koch_twin); same as --set task=...")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    add_threads_argument(p, "the loop (runtime, recorder, training) and the policy server it starts, each")
    args = p.parse_args(argv)

    from hgdagger.loop.config import LoopConfig
    from hgdagger.loop.report import plot, stage_table, table, verdict
    from hgdagger.loop.round_loop import run_loop

    import sim
    from sim.plugin import PluginTaskError, load_plugins

    try:
        load_plugins(args.plugin)  # before anything else: a plug-in that breaks leaves nothing behind
    except PluginTaskError as exc:
        return fail(str(exc))
    run = Path(args.out)
    settings = dict(PRESETS[args.preset])
    try:
        if args.config:
            settings.update(json.loads(Path(args.config).read_text()))
        for item in args.set:
            key, _, value = item.partition("=")
            if not key or not value:
                return fail(f"--set {item!r}: expected KEY=VALUE")
            settings[key] = setting_value(value)
        if args.robot:
            settings["task"] = robot_task(args.robot)
        cfg = LoopConfig.from_dict(settings)
        if run_folder.config_path(run).exists():
            earlier = LoopConfig.load(run_folder.config_path(run))
            if earlier != cfg:
                return fail(f"{run} holds a run with other settings ({run_folder.config_path(run)}); "
                            "use another --out, or the same settings to resume it")
    except (OSError, ValueError, TypeError) as exc:
        return fail(str(exc))
    if cfg.task not in sim.task_names():
        return fail(f"unknown task {cfg.task!r}; tasks: {', '.join(sim.task_names())} (another environment: --plugin)")
    try:  # one expert step on a fresh driver: a task that cannot run says so before the run folder is made
        seen = observation_set(cfg.observations)
        keys = set(sim.check_task(cfg.task, seed=cfg.seed, control_hz=cfg.control_hz, cameras=seen.cameras,
                                  image_size=seen.image_size).observation_shapes)
    except (ValueError, RuntimeError) as exc:
        return fail(f"task {cfg.task}: {exc}" if not str(exc).startswith(("task ", "plug-in task ")) else str(exc))
    except Exception as exc:  # a plugged-in environment's own bug: one line naming it
        return fail(f"task {cfg.task}: {type(exc).__name__}: {exc}")
    lacking = sorted(set(seen.lowdim_keys or ()) - keys)
    if lacking:
        return fail(f"task {cfg.task} has no {', '.join(lacking)} for observations={cfg.observations} "
                    f"(it has {', '.join(sorted(keys))})")
    if cfg.relative_to and cfg.relative_to not in keys:
        return fail(f"task {cfg.task} has no observation {cfg.relative_to!r} to learn targets relative to "
                    f"(it has {', '.join(sorted(keys))}); use --set relative_to='\"\"' for absolute targets")
    problem = writable_folder(run, "--out")
    if problem:
        return fail(problem)
    # Busy side by side: the loop, its policy server and (compare_bc) behavioural cloning's run; each inherits the count.
    threads.apply(threads.choose(args.threads, processes=3 if cfg.compare_bc else 2), "hgd-loop", say=print)
    print(f"hgd-loop: {cfg.task}, {cfg.demos} demos, {cfg.rounds} rounds x {cfg.rollouts_per_round} rollouts, "
          f"{cfg.eval_episodes} evaluation episodes per round -> {run}\n"
          f"hgd-loop: the policy sees {seen.description} (observations={cfg.observations})"
          + ("\nhgd-loop: beside each round, behavioural cloning on as many expert labels (compare_bc)"
             if cfg.compare_bc and cfg.rounds else ""))
    # SIGTERM (a scheduler, `kill`) unwinds like Ctrl-C: the policy server and a behavioural-cloning run
    # the loop started are stopped with it, not left running on the run folder.
    unwind_on_sigterm()
    try:
        results = run_loop(cfg, run, progress=not args.quiet, plugins=args.plugin)
    except PluginTaskError as exc:  # a plug-in's expert that broke later, on a state the check did not reach
        return fail(f"{exc} (the run so far is kept in {run}; rerun to resume)")
    except RuntimeError as exc:  # behavioural cloning's run failed, the policy server did not start: it says which
        return fail(str(exc))
    except KeyboardInterrupt:  # Ctrl-C (training stops on it too, after saving): a person's choice, not a crash
        print(f"\nhgd-loop: interrupted; the run so far is kept in {run} (the policy server and any behavioural "
              "cloning beside the loop stopped with it): rerun the same command to resume", file=sys.stderr)
        return 130
    milestones, expert_steps = sub_goals(cfg, run) if results[-1].bc else ([], [])
    print("\n" + table(results))
    if milestones:
        print(f"\nfailure against horizon, round {results[-1].round}: the share of evaluation episodes that never "
              "reached each sub-goal\n(in brackets: of those that reached the sub-goal before, the share that failed "
              "this one)\n" + stage_table(results[-1], milestones, expert_steps))
    if results[-1].bc:
        print("\n" + verdict(results))
    title = (f"HG-DAgger and behavioural cloning at equal labels on {cfg.task} (seed {cfg.seed})" if results[-1].bc
             else f"HG-DAgger on {cfg.task} (seed {cfg.seed})")
    picture = plot(results, run_folder.report_path(run, ".png"), title, milestones, expert_steps)
    run_folder.report_path(run, ".json").write_text(json.dumps([r.__dict__ for r in results], indent=1))
    print(f"\nplot: {picture}\nreport: {run / 'report.json'}")
    return 0


def sub_goals(cfg, run: Path) -> tuple[list[str], list[float]]:
    """The task's sub-goals and the median step at which the scripted expert reaches each (on the
    evaluation seeds; computed once, kept in the run folder)."""
    import sim
    from sim.evaluation import expert_sub_goal_steps

    path = run / "expert_milestones.json"
    if path.exists():
        saved = json.loads(path.read_text())
        return saved["milestones"], saved["expert_steps"]
    milestones = list(sim.task_milestones(cfg.task))
    if not milestones:
        return [], []
    steps = expert_sub_goal_steps(cfg.task, len(milestones), 20, seed=900_000 + cfg.seed * 1_000)
    run_folder.write_json(path, {"milestones": milestones, "expert_steps": steps})
    return (milestones, steps) if steps else ([], [])


def robot_task(name: str) -> str:
    """The task a robot runs unattended: a sim task, or the task of a twin's driver (ValueError if none)."""
    from hgdagger.robots.registry import is_simulated, resolve_robot

    robot = resolve_robot(name)
    task = robot.driver.get("task")
    if not task or not is_simulated(robot):
        raise ValueError(f"--robot {name}: the unattended loop needs a robot with a task and a scripted expert "
                         "(a sim task, or a twin such as koch_twin or so101_twin); a real arm has no expert to supervise with")
    return str(task)


if __name__ == "__main__":
    sys.exit(main())
