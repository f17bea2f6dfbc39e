"""hgd-train: train the chunk policy on recorded episodes, or train a retraining round.

A round (HG-DAgger: Kelly et al., ICRA 2019) trains on everything recorded so far, exactly as the
unattended loop would:

    hgd-train --run runs/lab --round 2
        reads   runs/lab/round_0..2/data/*.hdf5 (what the label rule takes: see --include)
        writes  runs/lab/round_2/checkpoints/{last,best}.pt, loss.csv, TensorBoard events
                and runs/lab/round_2/train_config.json (settings, files trained on, episodes left out)
        settings  the loop's (runs/lab/config.json); in a run made by hand, the newest earlier
                round's train_config.json; else the loop's defaults (hg-dagger weighting, actions
                relative to joint_pos, 2000 steps from scratch in round 0, 1000 fine-tuning steps
                from the previous round's checkpoint after). Flags override; one line says which
                setting came from where.

Plain files or folders work too (defaults: TrainConfig's, uniform weighting):

    hgd-train --data demos/ more/ep_0003.hdf5 --out runs/try/checkpoints --steps 5000
    hgd-train --data demos/ --observations pixels --out runs/pixels/checkpoints   # joints + cameras only
    hgd-train --data lab_so101_dataset/ --out runs/seed/checkpoints   # a LeRobotDataset v3.0 folder
    hgd-train --run runs/so101 --seed-data lab_so101_dataset/         # round 0 of a run from a lab's dataset

What is trained on: successful demonstrations and every rollout (its human corrections are what
HG-DAgger learns from, whether or not the rollout succeeded). Demonstrations labelled failure or
aborted, and attempts the operator discarded, stay on disk but are left out unless --include names
them; hgd-train says how many it left out and why.

Ctrl-C stops after the current step, saves last.pt and prints the command that resumes (exit 130).
Settings come from the base above (--data: TrainConfig defaults), then --config FILE.json, then
--set key=value (dotted keys, JSON values), then the explicit flags below. On several GPUs run the
same command under torchrun (torchrun --nproc_per_node 4 -m hgdagger.cli.train ...); rank 0 writes
the checkpoints.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hgdagger.cli.arguments import (
    existing_file, fail, nonnegative_float, nonnegative_int, positive_int, reports_missing_extras,
    writable_folder,
)
from hgdagger.common import threads
from hgdagger.common.observation_sets import OBSERVATION_SETS, observation_set
from hgdagger.common.settings import setting_value
from hgdagger.cli.arguments import add_threads_argument
from recorder import run_folder
from recorder.dataset import DatasetError
from recorder.selection import INCLUDABLE, check_include
from recorder.weighting import WEIGHTINGS

if TYPE_CHECKING:
    from policy_server.round_recipe import RoundPlan
    from policy_server.train import TrainConfig

INTERRUPTED = 130  # the shell's code for a process stopped by SIGINT


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="hgd-train", description=__doc__.split("\n\n")[0],
                                epilog=__doc__.split("\n\n", 1)[1], formatter_class=argparse.RawDescriptionHelpFormatter)
    src = p.add_argument_group("what to train on (one of)")
    src.add_argument("--run", type=Path, help="run folder holding round_<r>/ folders")
    src.add_argument("--data", nargs="+",
                     help="episode files or folders (searched for *.hdf5), or LeRobotDataset v3.0 folders")
    p.add_argument("--round", type=nonnegative_int, help="with --run: the round to train (default: the newest round)")
    p.add_argument("--seed-data", nargs="+", type=Path, default=[], metavar="DIR",
                   help="with --run: seed the run's round 0 with these datasets (a lab's LeRobotDataset v3.0 "
                        "folders, or folders of episode files); they are kept by path in round_0/seed_data.json "
                        "and every later round trains on them too")
    p.add_argument("--out", type=Path, help="with --data: checkpoint folder")
    p.add_argument("--include", nargs="*", choices=INCLUDABLE, metavar="LABEL",
                   help="also train on episodes left out by default: 'failure' (demonstrations that failed), "
                        "'aborted' (demonstrations cut off by a stop or a crash), 'discard' (attempts the operator "
                        "threw away, of any kind). Rollouts are always used, whatever their outcome. "
                        "--include alone: nothing extra, even if the run's settings include something")
    p.add_argument("--weighting", choices=sorted(WEIGHTINGS),
                   help="sample-weighting preset (hg-dagger: demos + human steps; iwr: interventions ~half "
                        "of each batch; sirius: per-step class weights; uniform: every step) "
                        "(default: with --run the run's, else hg-dagger as the loop; with --data uniform)")
    p.add_argument("--pre-intervention-s", type=nonnegative_float, default=2.0,
                   help="sirius: seconds before a takeover counted as pre-intervention (default: %(default)s)")
    p.add_argument("--config", type=existing_file, help="TrainConfig JSON (e.g. a round's saved train_config.json)")
    p.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE",
                   help="override config fields, e.g. steps=500 model.head=l2 model.net.velocity_net=unet1d")
    p.add_argument("--steps", type=positive_int, help="training steps")
    p.add_argument("--horizon", type=positive_int, help="chunk length H (default: the config's model.horizon, 16)")
    p.add_argument("--observations", choices=sorted(OBSERVATION_SETS),
                   help="what the policy sees: " + "; ".join(f"{o.name}: {o.description}" for o in OBSERVATION_SETS.values())
                   + " (default: the run's, else state)")
    p.add_argument("--obs-keys", nargs="+", help="low-dim observation keys, in order (default: all, sorted)")
    p.add_argument("--relative-to", metavar="KEY",
                   help="learn joint targets relative to this observation (the loop's: joint_pos); 'none' for "
                        "absolute targets")
    p.add_argument("--head", choices=["flow", "l2"], help="flow matching (default) or the L2 baseline")
    p.add_argument("--device", help="auto | cpu | cuda | cuda:N")
    p.add_argument("--resume", action="store_true",
                   help="continue the interrupted run in the output folder from its last.pt (an error if there is none)")
    p.add_argument("--init-from", help="fine-tune from a checkpoint path, 'previous' (the previous round's) or 'none'")
    p.add_argument("--quiet", "--no-progress", dest="no_progress", action="store_true", help="no progress bar")
    add_threads_argument(p, "training alone (its settings' num_threads, when set, come before the default)")
    return p.parse_args(argv)


def apply_overrides(d: dict[str, Any], sets: list[str]) -> dict[str, Any]:
    """Set dotted keys in a nested dict from KEY=VALUE strings (VALUE parsed as JSON, else string)."""
    for item in sets:
        if "=" not in item:
            raise SystemExit(f"--set expects KEY=VALUE, got {item!r}")
        key, raw = item.split("=", 1)
        value = setting_value(raw)
        node = d
        parts = key.split(".")
        for part in parts[:-1]:
            if not isinstance(node.get(part), dict):
                raise SystemExit(f"--set {key}: no config section {part!r}")
            node = node[part]
        if parts[-1] not in node:
            raise SystemExit(f"--set {key}: unknown setting (known here: {sorted(node)})")
        node[parts[-1]] = value
    return d


def build_config(args: argparse.Namespace, base: "TrainConfig | None" = None) -> "TrainConfig":
    """`base` (TrainConfig defaults when None), then --config, --set and the flags."""
    from policy_server.train import TrainConfig

    d = (base or TrainConfig()).to_dict()
    if args.config:
        loaded = json.loads(Path(args.config).read_text())
        loaded = loaded.get("config", loaded)  # accept a round's train_config.json as is
        d = TrainConfig.from_dict(loaded).to_dict()
    d = apply_overrides(d, args.set)
    cfg = TrainConfig.from_dict(d)
    if args.steps is not None:
        cfg.steps = args.steps
    if args.head:
        cfg.model.head = args.head
    if args.horizon is not None:
        cfg.model.horizon = args.horizon
    if args.device:
        cfg.device = args.device
    if args.observations:
        observation_set(args.observations).apply(cfg)
    if args.obs_keys:
        cfg.lowdim_keys = list(args.obs_keys)
    if args.relative_to is not None:
        cfg.model.relative_to = "" if args.relative_to in ("none", "") else args.relative_to
    return cfg


def overridden(args: argparse.Namespace) -> list[str]:
    """The flags that override the run's settings, as typed."""
    names = ["config", "steps", "horizon", "observations", "obs_keys", "relative_to", "head", "device", "weighting", "include",
             "init_from"]
    return [f"--{n.replace('_', '-')}" for n in names if getattr(args, n) is not None] + (["--set"] if args.set else [])


def plan(args: argparse.Namespace, r: int | None) -> "RoundPlan":
    """What this run trains with: the run's round plan (round_recipe.plan_round), or --data's
    defaults, with the flags applied. ValueError on settings that cannot be used."""
    from policy_server.round_recipe import PREVIOUS, RoundPlan, plan_round
    from policy_server.train import TrainConfig

    if args.run is not None:
        base = plan_round(args.run, r)
    else:
        base = RoundPlan(TrainConfig(), "uniform", [], None, "TrainConfig defaults (--data)")
    init = args.init_from if args.init_from is not None else base.init_from
    if args.data and init in (PREVIOUS, "none"):
        init = None
    flags = overridden(args)
    origin = base.origin + (f"; {', '.join(flags)} from the command line" if flags else "")
    return RoundPlan(build_config(args, base.config), args.weighting or base.weighting,
                     base.include if args.include is None else list(check_include(args.include)), init, origin,
                     defaults=base.defaults and args.config is None)


def resume_command(argv: list[str], r: int | None) -> str:
    """This command again, with --resume (and the round it trained, so a newer round cannot take its place)."""
    words = [a for a in argv if a != "--resume"]
    if r is not None and "--round" not in words:
        words += ["--round", str(r)]
    return shlex.join(["hgd-train", *words, "--resume"])


@reports_missing_extras
def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parse_args(argv)
    if (args.run is None) == (args.data is None):
        raise SystemExit("give exactly one of --run RUN (a round) or --data FILES (plain files)")
    if args.seed_data:
        if args.run is None:
            return fail("--seed-data seeds a run's round 0: give it with --run RUN (with --data, list the folders there)")
        for d in args.seed_data:
            if not d.is_dir():
                return fail(f"--seed-data {d}: no such folder")
            if not (d / "meta" / "info.json").is_file() and not any(d.rglob("*.hdf5")):
                return fail(f"--seed-data {d}: neither a LeRobotDataset v3.0 folder (meta/info.json) nor a folder "
                            "of episode files (*.hdf5)")
        for d in args.seed_data:
            run_folder.add_seed_dataset(args.run, d)
        if args.round is None:
            args.round = 0
    from policy_server import round_training
    from policy_server.interrupt import TrainingInterrupted
    from policy_server.train import NothingToResume, resume_checkpoint

    r = None
    if args.run is not None:
        r = args.round if args.round is not None else max(run_folder.list_rounds(args.run), default=0)
    try:
        how = plan(args, r)
    except ValueError as e:  # a --config that is not JSON, a --set of the wrong kind or range, a bad config.json
        return fail(f"{args.config or '--set'}: {e}" if isinstance(e, json.JSONDecodeError) else str(e))
    out = (run_folder.checkpoints_dir(args.run, r) if args.run is not None
           else args.out or Path("runs/train/checkpoints"))
    problem = writable_folder(out, "--out") if args.data else writable_folder(args.run, "--run")
    if problem:
        return fail(problem)
    if args.resume:
        try:
            resume_checkpoint(out)
        except NothingToResume as e:
            return fail(f"--resume: {e}")
    ranks = int(os.environ.get("LOCAL_WORLD_SIZE", "1") or 1)  # under torchrun: this machine's training processes
    choice = threads.choose(args.threads, processes=ranks, settings=how.config.num_threads)
    chosen = threads.apply(choice, "hgd-train", say=print)
    if args.threads or how.config.num_threads > 0:  # (train() applies a set num_threads again: the same one)
        how.config.num_threads = chosen.threads
    weighting_kw = {"pre_intervention_s": args.pre_intervention_s}
    try:
        if args.run is not None:
            prepared = round_training.prepare_round(args.run, r, how, **weighting_kw)
        else:
            prepared = round_training.prepare([Path(f) for f in args.data], how.config, how.weighting, how.include,
                                              **weighting_kw)
    except (DatasetError, run_folder.RoundError) as e:
        return fail(str(e))
    except KeyboardInterrupt:
        print("hgd-train: interrupted while reading the data; nothing trained, nothing saved", file=sys.stderr)
        return INTERRUPTED
    ds = prepared.dataset
    if args.run is not None:  # name the checkpoint it starts from ('previous' with no previous: from scratch)
        how.init_from = round_training.resolve_init(args.run, r, how.init_from)
    key = how.config.model.relative_to
    if key and key not in ds.obs and how.defaults and args.relative_to is None:
        how.config.model.relative_to = ""  # the loop's default key is not in this robot's data: absolute targets
        how.origin += f" (absolute actions: the data has no {key!r})"
    print(f"hgd-train: {'round ' + str(r) if r is not None else 'settings'} from {how.origin}: {how.describe()}")
    print(f"hgd-train: {prepared.episodes} episodes from {len(prepared.files)} files, {len(ds)} samples "
          f"({int((ds.weights > 0).sum())} with weight > 0, preset {how.weighting}) -> {out}")
    if prepared.left_out:
        print(f"hgd-train: {prepared.left_out_line}")
    progress = not args.no_progress
    try:
        if args.run is not None:
            res = round_training.train_round(args.run, r, how, prepared, resume=args.resume, progress=progress)
        else:
            res = round_training.train_on_files(prepared, how.config, out, init_from=how.init_from, resume=args.resume,
                                                progress=progress,
                                                meta={"weighting": how.weighting, "include": how.include})
    except TrainingInterrupted as stop:
        print(f"\nhgd-train: interrupted at step {stop.step} of {stop.total}; saved {stop.checkpoint} (resumable).\n"
              f"hgd-train: resume with: {resume_command(argv, r)}", file=sys.stderr)
        return INTERRUPTED
    except KeyboardInterrupt:
        print("\nhgd-train: stopped without saving (Ctrl-C before the first step, or a second Ctrl-C); "
              f"any last.pt in {out} is from before", file=sys.stderr)
        return INTERRUPTED
    except ValueError as e:  # data that does not fit the checkpoint or the settings (layout, horizon, relative_to)
        return fail(str(e))
    if res.rank == 0:
        val = "-" if res.val_loss is None else f"{res.val_loss:.4f}"
        resumed = f" (resumed from step {res.resumed_from})" if res.resumed_from is not None else ""
        print(f"hgd-train: done at step {res.step}{resumed}: train loss {res.train_loss:.4f}, val loss {val}, "
              f"{res.samples_per_s:.0f} samples/s; checkpoint {res.checkpoint}")
        print(f"hgd-train: loss curve in {out / 'loss.csv'} (tensorboard --logdir {out})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
