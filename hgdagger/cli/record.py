"""hgd-record: the recorder process. Binds a ROUTER socket and writes every episode the runtime sends."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

from hgdagger.common import curve
from hgdagger.cli.arguments import (
    add_image_storage,
    add_log_level, endpoint, existing_file, fail, nonnegative_int, positive_float, reports_missing_extras,
)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="hgd-record",
        description="Record the robot runtime's step stream to crash-safe HDF5, one file per episode.\n\n"
        "Start it before the runtime and point the runtime's --record endpoint at it:\n"
        "  hgd-record --out runs/exp1/round_0/data                       # tcp://127.0.0.1:5560\n"
        "  hgd-run ... --record-to tcp://127.0.0.1:5560\n"
        "From another machine, with CURVE keys (hgd-serve --gen-keys keys/):\n"
        "  hgd-record --endpoint tcp://*:5560 --curve-secret keys/server.key_secret --curve-clients keys/clients ...\n"
        "  hgd-run ... --record-to tcp://HOST:5560 --record-curve-server keys/server.key --record-curve-secret "
        "keys/robot.key_secret\n\n"
        "Each episode is written to ep_<nnnn>.hdf5.partial (flushed every --flush seconds) and renamed\n"
        "to ep_<nnnn>.hdf5 when it ends. After a crash, run `hgd-recover <run>` to close partial files.\n"
        "Stop with Ctrl-C: an episode still open is kept and labelled 'aborted'.",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--endpoint", type=endpoint, default="tcp://127.0.0.1:5560",
                   help="ZeroMQ endpoint to bind (default: %(default)s, this machine only)")
    p.add_argument("--curve-secret", type=existing_file, help="the recorder's secret certificate (*.key_secret)")
    p.add_argument("--curve-clients", help="folder of the public certificates of the robots allowed to record")
    p.add_argument("--insecure", action="store_true",
                   help="allow binding beyond loopback without CURVE (anyone who reaches the port can write episodes)")
    p.add_argument("--out", required=True, type=Path,
                   help="folder for episode files, normally <run>/round_<r>/data (created if missing)")
    p.add_argument("--round", type=nonnegative_int, default=None, help="round number stored in the files (default: from the "
                   "round_<r> folder name, else 0)")
    p.add_argument("--compression", choices=("lzf", "gzip", "none"), default="lzf",
                   help="compression of low-dim datasets (default lzf: cheap and it shrinks them)")
    add_image_storage(p)
    p.add_argument("--flush", type=positive_float, default=0.5, help="seconds between flushes = most a crash can lose (default 0.5)")
    p.add_argument("--status-every", type=positive_float, default=10.0, help="seconds between status lines on stderr")
    p.add_argument("--seconds", type=positive_float, default=None, help="stop after this many seconds (default: run until Ctrl-C)")
    p.add_argument("--parent-pid", type=int, default=None, help=argparse.SUPPRESS)  # a session's own recorder
    add_log_level(p)
    p.add_argument("-v", "--verbose", action="store_true", help="log every finished episode (--log-level INFO)")
    return p


@reports_missing_extras
def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level="INFO" if args.verbose else args.log_level, format="%(name)s: %(message)s")
    if bool(args.curve_secret) != bool(args.curve_clients):
        return fail("CURVE needs both --curve-secret and --curve-clients")
    problem = curve.exposure_problem(args.endpoint, bool(args.curve_secret), args.insecure)
    if problem:
        return fail(problem)
    from recorder.episode_writer import RecordError
    from recorder.process import serve

    try:
        stats = serve(args.endpoint, args.out, round_index=args.round,
                      compression=None if args.compression == "none" else args.compression,
                      flush_interval=args.flush, status_every=args.status_every, max_seconds=args.seconds,
                      image_storage=args.image_storage,
                      curve_secret=args.curve_secret, curve_clients=args.curve_clients, parent_pid=args.parent_pid)
    except (RecordError, RuntimeError) as e:
        return fail(str(e))
    print(json.dumps(stats, indent=1))
    return 1 if stats.get("error") else 0


if __name__ == "__main__":
    sys.exit(main())
