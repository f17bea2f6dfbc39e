"""hgd-train: train the chunk policy on recorded episodes, or train a retraining round.

A round (HG-DAgger: Kelly et al., ICRA 2019) trains on everything recorded so far:

    hgd-train --run runs/lab --round 2 --weighting hg-dagger
        reads   runs/lab/round_0..2/data/*.hdf5
        writes  runs/lab/round_2/checkpoints/{last,best}.pt and runs/lab/round_2/train_config.json
        starts  from round 1's checkpoint when it exists (--init-from previous, the default for r > 0)

Plain files or folders work too:

    hgd-train --data demos/ more/ep_0003.hdf5 --out runs/try/checkpoints --steps 5000

Settings come from TrainConfig defaults, then --config FILE.json, then --set key=value (dotted
keys, JSON values), then the explicit flags below. On several GPUs run the same command under
torchrun (torchrun --nproc_per_node 4 -m hgdagger.cli.train ...); rank 0 writes the checkpoints.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hgdagger.cli.arguments import (
    existing_file, fail, nonnegative_float, nonnegative_int, positive_int, reports_missing_extras,
    writable_folder,
)
from recorder import run_folder
from recorder.dataset import DatasetError
from recorder.weighting import WEIGHTINGS

if TYPE_CHECKING:
    from policy_server.train import TrainConfig


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="hgd-train", description=__doc__.split("\n\n")[0],
                                epilog=__doc__.split("\n\n", 1)[1], formatter_class=argparse.RawDescriptionHelpFormatter)
    src = p.add_argument_group("what to train on (one of)")
    src.add_argument("--run", type=Path, help="run folder holding round_<r>/ folders")
    src.add_argument("--data", nargs="+", help="episode files or folders (searched for *.hdf5)")
    p.add_argument("--round", type=nonnegative_int, help="with --run: the round to train (default: the newest round)")
    p.add_argument("--out", type=Path, help="with --data: checkpoint folder")
    p.add_argument("--weighting", default="uniform", choices=sorted(WEIGHTINGS),
                   help="sample-weighting preset (hg-dagger: demos + human steps; iwr: interventions ~half "
                        "of each batch; sirius: per-step class weights) (default: %(default)s)")
    p.add_argument("--pre-intervention-s", type=nonnegative_float, default=2.0,
                   help="sirius: seconds before a takeover counted as pre-intervention (default: %(default)s)")
    p.add_argument("--config", type=existing_file, help="TrainConfig JSON (e.g. a round's saved train_config.json)")
    p.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE",
                   help="override config fields, e.g. steps=500 model.head=l2 model.net.velocity_net=unet1d")
    p.add_argument("--steps", type=positive_int, help="training steps")
    p.add_argument("--horizon", type=positive_int, help="chunk length H (default: the config's model.horizon, 16)")
    p.add_argument("--obs-keys", nargs="+", help="low-dim observation keys, in order (default: all, sorted)")
    p.add_argument("--head", choices=["flow", "l2"], help="flow matching (default) or the L2 baseline")
    p.add_argument("--device", help="auto | cpu | cuda | cuda:N")
    p.add_argument("--resume", action="store_true", help="continue the run in the output folder from last.pt")
    p.add_argument("--init-from", help="fine-tune from a checkpoint path, 'previous' (the previous round's) or 'none'")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    return p.parse_args(argv)


def apply_overrides(d: dict[str, Any], sets: list[str]) -> dict[str, Any]:
    """Set dotted keys in a nested dict from KEY=VALUE strings (VALUE parsed as JSON, else string)."""
    for item in sets:
        if "=" not in item:
            raise SystemExit(f"--set expects KEY=VALUE, got {item!r}")
        key, raw = item.split("=", 1)
        try:
            value = json.loads(raw)
        except json.JSONDecodeError:
            value = raw
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


def build_config(args: argparse.Namespace) -> "TrainConfig":
    from policy_server.train import TrainConfig

    d = TrainConfig().to_dict()
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
    if args.obs_keys:
        cfg.lowdim_keys = list(args.obs_keys)
    return cfg


@reports_missing_extras
def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if (args.run is None) == (args.data is None):
        raise SystemExit("give exactly one of --run RUN (a round) or --data FILES (plain files)")
    from policy_server import round_training

    try:
        cfg = build_config(args)
    except ValueError as e:  # a --config that is not JSON, a --set of the wrong kind or range
        return fail(f"{args.config or '--set'}: {e}" if isinstance(e, json.JSONDecodeError) else str(e))
    problem = (writable_folder(args.out or Path("runs/train/checkpoints"), "--out") if args.data
               else writable_folder(args.run, "--run"))
    if problem:
        return fail(problem)
    weighting_kw = {"pre_intervention_s": args.pre_intervention_s}
    try:
        if args.run is not None:
            r = args.round if args.round is not None else max(run_folder.list_rounds(args.run), default=0)
            prepared = round_training.prepare_round(args.run, r, cfg, args.weighting, **weighting_kw)
            out = run_folder.checkpoints_dir(args.run, r)
        else:
            prepared = round_training.prepare([Path(f) for f in args.data], cfg, args.weighting, **weighting_kw)
            out = args.out or Path("runs/train/checkpoints")
    except (DatasetError, run_folder.RoundError) as e:
        print(f"hgd-train: {e}", file=sys.stderr)
        return 2
    ds = prepared.dataset
    print(f"hgd-train: {prepared.episodes} episodes from {len(prepared.files)} files, {len(ds)} samples "
          f"({int((ds.weights > 0).sum())} with weight > 0, preset {args.weighting}) -> {out}")
    init_from = round_training.PREVIOUS if args.init_from is None else args.init_from
    progress = not args.no_progress
    if args.run is not None:
        res = round_training.train_round(args.run, r, cfg, prepared, args.weighting, init_from=init_from,
                                         resume=args.resume, progress=progress)
    else:
        init = None if init_from in (round_training.PREVIOUS, "none") else init_from
        res = round_training.train_on_files(prepared, cfg, out, init_from=init, resume=args.resume, progress=progress,
                                            meta={"weighting": args.weighting})
    if res.rank == 0:
        val = "-" if res.val_loss is None else f"{res.val_loss:.4f}"
        print(f"hgd-train: done at step {res.step}: train loss {res.train_loss:.4f}, val loss {val}, "
              f"{res.samples_per_s:.0f} samples/s; checkpoint {res.checkpoint}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
