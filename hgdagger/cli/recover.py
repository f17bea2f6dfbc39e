"""hgd-recover: close the episode files a crash left open (ep_<n>.hdf5.partial) in a run."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from hgdagger.cli.arguments import fail, reports_missing_extras


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="hgd-recover",
        description="Repair what a crash (kill -9, power loss, full disk) left in a run folder.\n\n"
        "Every ep_<n>.hdf5.partial is copied, up to its last flush, into a closed ep_<n>.hdf5 labelled\n"
        "'aborted' (attribute recovered=True); the partial is deleted only after the copy is renamed into\n"
        "place. A partial that cannot be opened is renamed .corrupt and reported; one with no steps is\n"
        "removed. Folders a running recorder holds are skipped (use --force only if you are sure).\n\n"
        "  hgd-recover runs/exp1",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("run", type=Path, help="run folder (or any folder below it) to search for partial files")
    p.add_argument("--force", action="store_true", help="also recover in folders whose lock is held")
    p.add_argument("--dry-run", action="store_true", help="list the partial files, change nothing")
    return p


@reports_missing_extras
def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if not args.run.is_dir():
        return fail(f"'{args.run}' is not a folder")
    from recorder.recover import find_partials, recover_partial
    from recorder.recording_session import FolderLock

    partials = find_partials(args.run)
    if not partials:
        print(f"nothing to recover in '{args.run}' (no *.partial files)")
        return 0
    bad = 0
    for p in partials:
        if args.dry_run:
            print(f"would recover {p}")
            continue
        if not args.force and FolderLock.is_held(p.parent):
            print(f"{'skipped':<14} {p}: a recorder is still writing into this folder")
            bad += 1
            continue
        r = recover_partial(p)
        print(f"{r.action:<14} {p}" + (f" -> {r.result.name}" if r.result else "") + f": {r.message}")
        bad += r.action == "quarantined"
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
