"""hgd-inspect: what is in a run folder, per episode and per round."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from hgdagger.cli.arguments import fail, nonnegative_int, reports_missing_extras
from recorder.selection import INCLUDABLE, describe


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="hgd-inspect",
        description="List every recorded episode of a run: length, duration, label, interventions, the\n"
        "share of steps a human commanded and the policy checkpoint; then totals per round, and what\n"
        "training takes of each round. Discarded attempts are listed and marked but are not data: no\n"
        "total counts them and nothing trains on them. Failed or aborted demonstrations are data but\n"
        "training leaves them out unless told (hgd-train --include failure aborted). Files that cannot\n"
        "be read are named (and would be skipped by training); partial files left by a crash are listed\n"
        "with a hint to run hgd-recover.\n\n"
        "  hgd-inspect runs/exp1\n  hgd-inspect runs/exp1 --round 2 --interventions\n"
        "  hgd-inspect runs/exp1 --json > index.json",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("run", type=Path, help="run folder (holding round_<r>/data/) or one round's data folder")
    p.add_argument("--round", type=nonnegative_int, action="append", help="only this round (repeatable)")
    p.add_argument("--kind", choices=("demo", "rollout"), help="only this kind of episode")
    p.add_argument("--label", help="only this label (success, failure, discard, aborted)")
    p.add_argument("--interventions", action="store_true", help="only episodes with at least one intervention")
    p.add_argument("--include", nargs="+", default=[], choices=INCLUDABLE, metavar="LABEL",
                   help="count what hgd-train --include LABEL... would train on (labels: %(choices)s; "
                        "default: successful demonstrations and every rollout, no discards)")
    p.add_argument("--json", action="store_true", help="print JSON instead of tables")
    p.add_argument("--totals", action="store_true", help="print only the per-round totals")
    p.add_argument("--verify", action="store_true",
                   help="read every byte of every episode back and check it against the checksums written when it "
                        "was recorded; name what is damaged (exit 1 if anything is)")
    return p


@reports_missing_extras
def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from recorder.run import NotARun, open_run

    try:
        run = open_run(args.run, progress=not args.json)
    except NotARun as e:
        return fail(str(e))
    eps = run.select(rounds=args.round, kind=args.kind, label=args.label, interventions_only=args.interventions)
    if args.verify:
        return verify(run, eps, args.json)
    totals = run.totals(eps, args.include)
    if args.json:
        print(json.dumps({"run": str(run.root), "include": args.include, "episodes": [
            {"file": str(e.path), "round": e.round, "steps": e.num_samples, "seconds": round(e.duration_s, 3),
             "kind": e.kind, "label": e.label, "interventions": e.interventions,
             "human_share": round(e.human_share, 4), "checkpoint": e.checkpoint, "operator": e.operator,
             "recovered": e.recovered, "discarded": e.discarded,
             "trained_on": e.left_out_because(args.include) is None} for e in eps],
            "rounds": totals, "problems": [[str(p), why] for p, why in run.problems],
            "partials": [str(p) for p in run.partials]}, indent=1))
        return 0
    if not args.totals:
        print(f"{'round':>5} {'episode':<14} {'kind':<8} {'label':<8} {'steps':>6} {'sec':>7} {'interv':>6} "
              f"{'human%':>6}  checkpoint")
        for e in eps:
            print(f"{e.round:>5} {e.path.name:<14} {e.kind:<8} {e.label:<8} {e.num_samples:>6} {e.duration_s:>7.1f} "
                  f"{e.interventions:>6} {100 * e.human_share:>6.1f}  {e.checkpoint or '-'}"
                  + ("  (recovered)" if e.recovered else "") + _mark(e, args.include))
        print()
    print(f"{'round':>5} {'episodes':>8} {'steps':>8} {'minutes':>8} {'success':>8} {'interv':>7} {'human%':>7}  "
          f"training takes{' (--include ' + ' '.join(args.include) + ')' if args.include else ' (default)'}")
    for r, t in sorted(totals.items()):
        print(f"{r:>5} {t['episodes']:>8} {t['steps']:>8} {t['seconds'] / 60:>8.1f} {t['successes']:>8} "
              f"{t['interventions']:>7} {100 * t['human_steps'] / max(t['steps'], 1):>7.1f}  {_training(t)}")
    discarded = sum(t["discarded"] for t in totals.values())
    if discarded:
        print(f"{discarded} discarded attempt(s) listed above are kept for review only: not counted, not trained on")
    for p, why in run.problems:
        print(f"unreadable: {p}: {why} (skipped by training)", file=sys.stderr)
    if run.partials:
        print(f"{len(run.partials)} partial file(s) from a crash or a running recorder; "
              f"run `hgd-recover {args.run}` once no recorder is writing", file=sys.stderr)
    if not eps:
        print("no episodes match", file=sys.stderr)
    return 0


def _mark(e, include: list[str]) -> str:
    """The listing's note on an episode training does not take."""
    if e.discarded:
        return "  [discarded: not data]" if "discard" not in include else "  [discarded: trained on, --include discard]"
    why = e.left_out_because(include)
    return f"  [left out of training: --include {why}]" if why else ""


def _training(t: dict) -> str:
    """'4 episodes, 66 steps (33 human); left out: 1 discarded (...)' for one round's totals."""
    tr = t["training"]
    line = f"{tr['episodes']} episode{'s' * (tr['episodes'] != 1)}, {tr['steps']} steps ({tr['human_steps']} human)"
    left = describe(r for r, n in tr["left_out"].items() for _ in range(n))
    return f"{line}; {left}" if left else line


def verify(run, eps, as_json: bool) -> int:
    """Check every selected episode's bytes; unreadable files found while indexing count as damaged."""
    from tqdm import tqdm

    from recorder.verify import verify_file

    verdicts = [verify_file(e.path) for e in tqdm(eps, desc="verifying", unit="ep", disable=as_json or len(eps) < 20)]
    damaged = [(v.path, "; ".join(v.damaged)) for v in verdicts if not v.ok] + [(p, why) for p, why in run.problems]
    unverified = [v.path for v in verdicts if v.ok and v.unverified]
    if as_json:
        print(json.dumps({"run": str(run.root), "checked": len(verdicts), "damaged": [[str(p), w] for p, w in damaged],
                          "unverified": [str(p) for p in unverified]}, indent=1))
    else:
        for p, why in damaged:
            print(f"DAMAGED     {p}: {why}")
        for p in unverified:
            print(f"unverified  {p}: no checksums (written before checksums existed)")
        print(f"{len(verdicts)} episode file(s) read back: {len(verdicts) - len(damaged) + len(run.problems)} intact"
              f"{f', {len(damaged)} damaged' if damaged else ''}"
              f"{f', {len(unverified)} without checksums' if unverified else ''}")
    return 1 if damaged else 0


if __name__ == "__main__":
    sys.exit(main())
