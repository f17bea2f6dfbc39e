"""hgd-export: a run, or some of its rounds, as one robomimic-style HDF5 file (with mask/ filter keys) or as a
LeRobotDataset v3.0 folder (--format lerobot)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from hgdagger.cli.arguments import fail, nonnegative_int, positive_int, reports_missing_extras
from recorder.lerobot.video import CODECS, DEFAULT_CODEC
from recorder.selection import INCLUDABLE, describe


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="hgd-export",
        description="Aggregate a run's episode files into one robomimic-layout HDF5 file: data/demo_<i>\n"
        "(every dataset and attribute of the episode, plus source_file and round) and mask/<name> filter\n"
        "keys: round_<r>, kind_demo / kind_rollout, label_<label>, interventions. It holds what training\n"
        "would take: discarded attempts and failed or aborted demonstrations only with --include.\n\n"
        "  hgd-export runs/exp1 --out exp1_all.hdf5\n"
        "  hgd-export runs/exp1 --up-to 2 --out round2_training_set.hdf5   # what round 2 trains on\n"
        "  hgd-export runs/exp1 --round 3 --interventions --out r3_takeovers.hdf5\n\n"
        "--format lerobot writes a LeRobotDataset v3.0 folder instead (parquet data, one MP4 per camera,\n"
        "meta/info.json, stats.json, tasks, episodes), keeping source, intervention and label as extra\n"
        "features; LeRobot's LeRobotDataset(repo_id, root=FOLDER) loads it, and hgd-train --data FOLDER trains on it:\n"
        "  hgd-export runs/exp1 --format lerobot --out exp1_lerobot",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("run", type=Path, help="run folder")
    p.add_argument("--out", type=Path, required=True,
                   help="output .hdf5 file, or folder with --format lerobot (must not exist unless --overwrite)")
    p.add_argument("--format", choices=("robomimic", "lerobot"), default="robomimic",
                   help="robomimic: one HDF5 file (default); lerobot: a LeRobotDataset v3.0 folder")
    p.add_argument("--round", type=nonnegative_int, action="append", help="only this round (repeatable)")
    p.add_argument("--up-to", type=nonnegative_int, help="rounds 0..N (the aggregated training set of round N)")
    p.add_argument("--kind", choices=("demo", "rollout"), help="only demonstrations or only rollouts (default: both)")
    p.add_argument("--label", help="only this label (success, failure, discard, aborted)")
    p.add_argument("--interventions", action="store_true", help="only episodes with interventions")
    p.add_argument("--include", nargs="+", default=[], choices=INCLUDABLE, metavar="LABEL",
                   help="also export these, left out by default as by hgd-train (labels: %(choices)s)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing --out file (or LeRobot dataset folder)")
    lr = p.add_argument_group("--format lerobot")
    lr.add_argument("--fps", type=positive_int, help="frame rate (default: from the recorded timestamps)")
    lr.add_argument("--video-codec", choices=sorted(CODECS), default=DEFAULT_CODEC,
                    help="av1 (default, as LeRobot's own: small files, decoded through dav1d) or h264 (for players "
                         "without AV1)")
    lr.add_argument("--crf", type=nonnegative_int,
                    help="video quality, lower is better and bigger (default: " +
                         ", ".join(f"{c.name} {c.crf}" for c in CODECS.values()) + ")")
    lr.add_argument("--robot-type", help="info.json's robot_type, e.g. so101_follower (default: none)")
    return p


@reports_missing_extras
def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from recorder.export import export
    from recorder.run import NotARun, open_run

    if args.out.exists() and not args.overwrite:
        return fail(f"'{args.out}' exists (use --overwrite to replace it)")
    try:
        run = open_run(args.run, progress=True)
    except NotARun as e:
        return fail(str(e))
    matching = run.select(rounds=args.round, up_to=args.up_to, kind=args.kind, label=args.label,
                          interventions_only=args.interventions)
    eps = run.select(rounds=args.round, up_to=args.up_to, kind=args.kind, label=args.label,
                     interventions_only=args.interventions, include=args.include)
    left = describe(why for _, why in run.left_out(matching, args.include))
    if not eps:
        return fail(f"no episode in '{args.run}' matches the filters" + (f" ({left})" if left else ""))
    if left:
        print(f"hgd-export: {left}", file=sys.stderr)
    for p, why in run.problems:
        print(f"skipped unreadable {p}: {why}", file=sys.stderr)
    try:
        if args.format == "lerobot":
            summary = _export_lerobot(args, eps)
        else:
            summary = export(run, eps, args.out)
    except OSError as e:
        return fail(f"cannot write '{args.out}': {e}")
    except ValueError as e:  # episodes that cannot share one LeRobot dataset (rates, action sizes), a bad --out
        return fail(str(e))
    print(json.dumps(summary, indent=1))
    return 0


def _export_lerobot(args: argparse.Namespace, eps: list) -> dict:
    """The selected episodes as a LeRobotDataset v3.0 folder (recorder.lerobot.writer)."""
    from recorder.lerobot.video import VideoSettings
    from recorder.lerobot.writer import ExportSettings, export

    settings = ExportSettings(VideoSettings(args.video_codec, args.crf), args.fps, args.robot_type)
    summary = export(eps, args.out, settings, overwrite=args.overwrite)
    if summary["left_out_observations"]:
        print(f"hgd-export: left out observations not in every episode or with no LeRobot place: "
              f"{summary['left_out_observations']}", file=sys.stderr)
    return summary


if __name__ == "__main__":
    sys.exit(main())
