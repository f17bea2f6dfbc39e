"""hgd-serve: serve a chunked policy to robot runtimes over ZeroMQ."""

from __future__ import annotations

import argparse
import functools
import logging
import signal
import sys
from pathlib import Path

from hgdagger.cli.arguments import (
    endpoint, existing_file, fail, nonnegative_float, nonnegative_int, parse_size, positive_float,
    positive_int, reports_missing_extras,
)
from hgdagger.common import threads
from hgdagger.cli.arguments import add_threads_argument


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="hgd-serve",
        description="Serve a policy to one or many robot runtimes (hgd-run). Robots connect, receive a handshake "
        "(chunk length, action dimension, control period, observation keys and shapes, checkpoint id and hash), "
        "then send observations in physical units and get back action chunks with timings. Requests that arrive "
        "together are batched into one forward pass. Ctrl-C stops the server.",
        epilog="Examples:\n"
        "  hgd-serve --policy expert:pick_place                 # the sim's scripted expert, before any training\n"
        "  hgd-serve --checkpoint runs/r1/policy.pt --watch     # a trained policy; reload when the file changes\n"
        "  hgd-serve --gen-keys keys/ && hgd-serve --endpoint tcp://0.0.0.0:5555 \\\n"
        "      --curve-secret keys/server.key_secret --curve-clients keys/clients/   # off-loopback: encrypted\n"
        "Reload on command from another shell: hgd-reload --server tcp://127.0.0.1:5555 runs/r2/policy.pt",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    src = p.add_argument_group("what to serve (one of)")
    src.add_argument("--policy", default=None,
                     help="a built-in policy: 'expert:TASK' (scripted expert, kinematic rollout) or 'toy' (deterministic "
                     "stand-in for tests and benchmarks)")
    src.add_argument("--checkpoint", default=None, help="a trained checkpoint file (hgd-train's .pt)")
    p.add_argument("--endpoint", type=endpoint, default="tcp://127.0.0.1:5555",
                   help="where to listen: tcp://HOST:PORT or ipc:///path (default: tcp://127.0.0.1:5555, loopback only)")
    p.add_argument("--chunk-length", type=positive_int, default=16, help="H for built-in policies (default: 16)")
    p.add_argument("--control-hz", type=positive_float, default=20.0, help="control rate for built-in policies (default: 20)")
    p.add_argument("--max-batch", type=positive_int, default=8, help="most requests per forward pass (default: 8)")
    p.add_argument("--batch-window-ms", type=nonnegative_float, default=0.0,
                   help="after a request arrives, wait this long for others to batch with it (default: 0)")
    p.add_argument("--watch", action="store_true", help="reload the checkpoint when its file changes")
    p.add_argument("--doubt-samples", type=nonnegative_int, default=0,
                   help="the console's doubt gauge: a worker process (background CPU priority, its own copy of the policy) "
                   "samples N chunks for a robot's observation after its chunk is sent; later replies carry their "
                   "spread. It never delays a chunk (0 = off, default)")
    p.add_argument("--doubt-every", type=positive_int, default=1,
                   help="sample doubt for every Nth request of a robot at most (default: 1, as often as the worker keeps up)")
    p.add_argument("--doubt-threads", type=positive_int, default=1, help="torch CPU threads of the doubt worker (default: 1)")
    add_threads_argument(p, "the server and a robot runtime beside it, + the doubt worker with --doubt-samples")
    p.add_argument("--warmup-rounds", type=nonnegative_int, default=1,
                   help="before listening, call the policy this many times at every batch size up to --max-batch, "
                   "so no robot's request pays first-call costs (with --compile: one compilation per size); "
                   "0 = off (default: 1)")
    p.add_argument("--noise-seed", type=int, default=0,
                   help="each request's flow noise is drawn from this seed, the robot, the episode and the request "
                   "number, so reruns reproduce (default 0; -1 = fresh noise every time)")
    p.add_argument("--device", default="auto", help="torch device for checkpoints: auto (cuda if present), cpu, cuda")
    p.add_argument("--compile", action="store_true",
                   help="torch.compile the model's velocity network (pays on GPU); warm-up then compiles every batch "
                   "size up to --max-batch before listening (tens of seconds each on a small CPU). The doubt worker "
                   "stays eager")
    p.add_argument("--no-realtime", action="store_true",
                   help="serve under the normal scheduler. By default the serving thread asks for SCHED_FIFO "
                   "priority 40 where the OS permits (root, CAP_SYS_NICE or an rtprio limit): below a robot "
                   "runtime's threads on the same machine, above any CPU-bound neighbour (a training job), so "
                   "none can delay a chunk; reloads and the doubt worker stay normal. The first line says which")
    p.add_argument("--inject-delay-ms", type=nonnegative_float, default=0.0,
                   help="make every forward pass this much slower (fault drills, chunking benchmarks)")
    p.add_argument("--toy-delay-ms", type=nonnegative_float, default=0.0, help="toy policy: injected inference delay")
    p.add_argument("--toy-noise", type=nonnegative_float, default=0.0, help="toy policy: per-call random offset (rad)")
    p.add_argument("--toy-image", default=None, help="toy policy: also expect a front_rgb image of HEIGHTxWIDTH")
    sec = p.add_argument_group("CURVE authentication and encryption (for any endpoint that is not loopback)")
    sec.add_argument("--insecure", action="store_true",
                     help="allow binding beyond loopback without CURVE (a trusted network only)")
    sec.add_argument("--curve-secret", type=existing_file, default=None, help="the server's secret certificate (*.key_secret)")
    sec.add_argument("--curve-clients", default=None, help="folder of the public certificates of allowed robots")
    sec.add_argument("--gen-keys", metavar="DIR", default=None,
                     help="write a server key pair and one robot key pair under DIR (clients/ holds the public robot key), then exit")
    p.add_argument("--log-level", default="INFO", help="DEBUG, INFO, WARNING (default: INFO)")
    return p


def load_checkpoint(device: str | None, compile: bool, path: str):
    """hgd-serve's checkpoint loader (module level: the doubt worker gets it pickled)."""
    from policy_server.policy import FlowPolicy

    return FlowPolicy.load(path, device=device, compile=compile)


def checkpoint_loader(args: argparse.Namespace, compile: bool):
    """A picklable loader for the command line's device."""
    return functools.partial(load_checkpoint, None if args.device == "auto" else args.device, compile)


def _checkpoint_policy(args: argparse.Namespace, _: str):
    loader = checkpoint_loader(args, args.compile)
    try:
        return loader(args.checkpoint), loader
    except FileNotFoundError:
        raise SystemExit(fail(f"--checkpoint {args.checkpoint}: no such file"))
    except ValueError as e:  # CheckpointError and layout refusals say what is wrong
        raise SystemExit(fail(f"--checkpoint {args.checkpoint}: {e}"))


def _toy_policy(args: argparse.Namespace, _: str):
    from policy_server.toy_policy import ToyConfig, ToyPolicy

    image = parse_size(args.toy_image) if args.toy_image else None
    if args.toy_image and image is None:
        raise SystemExit(fail(f"--toy-image {args.toy_image!r}: expected HEIGHTxWIDTH, e.g. 480x640"))
    return ToyPolicy(ToyConfig(chunk_length=args.chunk_length, control_period=1 / args.control_hz,
                               delay_s=args.toy_delay_ms / 1e3, noise=args.toy_noise,
                               image_shape=(*image, 3) if image else None)), None


def _expert_policy(args: argparse.Namespace, task: str):
    import sim
    from sim.expert_policy import ExpertChunkPolicy

    if task not in sim.task_names():
        raise SystemExit(fail(f"unknown task {task!r}; tasks: {', '.join(sim.task_names())}"))
    return ExpertChunkPolicy(task, args.chunk_length, args.control_hz), None


# --policy KIND[:ARGUMENT] -> (args, argument) -> (policy, loader for reloads or None). A checkpoint
# is the kind --checkpoint picks. The simulator is imported only for the expert, so a machine
# without MuJoCo serves checkpoints.
POLICY_KINDS = {"checkpoint": _checkpoint_policy, "toy": _toy_policy, "expert": _expert_policy}


def make_policy(args: argparse.Namespace):
    """The policy named on the command line (and a loader for reloads, when it has files)."""
    name = "checkpoint" if args.checkpoint else (args.policy or "expert:pick_place")
    kind, _, argument = name.partition(":")
    if kind not in POLICY_KINDS or kind == "checkpoint" and not args.checkpoint or kind == "expert" and not argument:
        raise SystemExit(fail(f"--policy {name!r}: expected 'expert:TASK' or 'toy' (or use --checkpoint FILE)"))
    return POLICY_KINDS[kind](args, argument)


def build_policy(args: argparse.Namespace):
    """The policy the command line names, alone: how the doubt worker builds its own copy."""
    return make_policy(args)[0]


def doubt_recipe(args: argparse.Namespace):
    """How the doubt worker builds and reloads its copy: never compiled (compiling is tens of seconds
    of CPU per batch size, beside the chunks, and buys a background gauge nothing)."""
    eager = argparse.Namespace(**{**vars(args), "compile": False})
    return functools.partial(build_policy, eager), checkpoint_loader(args, False) if args.checkpoint else None


def gen_keys(folder: str) -> int:
    """CURVE key pairs for the server and one robot. Secret keys are readable by their owner only
    (0600), and existing keys are never replaced: a lab's robots hold the server's public key."""
    import os

    import zmq.auth

    root = Path(folder)
    clients = root / "clients"
    targets = [root / "server.key", root / "server.key_secret", root / "robot.key_secret", clients / "robot.key"]
    existing = [str(p) for p in targets if p.exists()]
    if existing:
        return fail(f"--gen-keys {folder}: keys already exist ({', '.join(existing)}); remove them first or choose "
                    "another folder (robots configured with the old public key would stop connecting)")
    try:
        clients.mkdir(parents=True, exist_ok=True)
        os.chmod(root, 0o700)
        pub, sec = zmq.auth.create_certificates(root, "server")
        rpub, rsec = zmq.auth.create_certificates(root, "robot")
    except OSError as e:
        return fail(f"--gen-keys {folder}: cannot write keys there ({e.strerror or e})")
    for secret in (sec, rsec):
        os.chmod(secret, 0o600)
    Path(rpub).replace(clients / Path(rpub).name)
    print(f"server: --curve-secret {sec} --curve-clients {clients}\n"
          f"robot:  --curve-server {pub} --curve-secret {rsec}")
    return 0


def spare_from_gc() -> None:
    """Collect once, then exempt everything alive now (torch, the model, compiled graphs) from
    later collections: the first full collection over it, mid-session, stalled a chunk by 200 ms.
    (The whole process is the server, so this is ours to decide; the library leaves gc alone.)"""
    import gc

    gc.collect()
    gc.freeze()


@reports_missing_extras
def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(name)s %(levelname)s %(message)s")
    if args.gen_keys:
        return gen_keys(args.gen_keys)
    if args.policy and args.checkpoint:
        return fail("give --policy or --checkpoint, not both")
    if bool(args.curve_secret) != bool(args.curve_clients):
        return fail("CURVE needs both --curve-secret and --curve-clients")
    from hgdagger.common import curve
    from hgdagger.common.realtime import SERVER_PRIORITY, realtime_io_threads, try_realtime

    problem = curve.exposure_problem(args.endpoint, bool(args.curve_secret), args.insecure)
    if problem:
        return fail(problem)
    if args.insecure and not curve.is_loopback(args.endpoint) and not args.curve_secret:
        logging.warning("listening on %s without CURVE (--insecure): anyone who can reach it can drive your "
                        "robots' policy", args.endpoint)
    if args.doubt_samples == 1 or args.doubt_samples < 0:
        return fail("--doubt-samples needs at least 2 samples (or 0 for off)")
    # Busy side by side: this server, a robot runtime it serves (on a machine without a GPU box, the
    # same one), and the doubt worker when there is one.
    chosen = threads.apply(threads.choose(args.threads, processes=2 + (args.doubt_samples > 0)), "hgd-serve")
    from policy_server.server import PolicyServer, ServerConfig

    if not args.no_realtime:  # before the server's first socket starts ZeroMQ's I/O thread
        import zmq

        realtime_io_threads(zmq.Context.instance(), SERVER_PRIORITY)
    policy, loader = make_policy(args)
    cfg = ServerConfig(endpoint=args.endpoint, max_batch=args.max_batch, batch_window_ms=args.batch_window_ms,
                       doubt_samples=args.doubt_samples, doubt_every=args.doubt_every, doubt_threads=args.doubt_threads,
                       warmup_rounds=args.warmup_rounds, noise_seed=None if args.noise_seed < 0 else args.noise_seed,
                       inject_delay_ms=args.inject_delay_ms,
                       watch_path=args.checkpoint if args.watch else None,
                       curve_secret_file=args.curve_secret, curve_clients_dir=args.curve_clients)
    try:  # warms up, then binds: robots that connect meanwhile keep retrying until it listens
        factory, doubt_loader = doubt_recipe(args)
        server = PolicyServer(policy, cfg, loader=loader, doubt_factory=factory, doubt_loader=doubt_loader)
    except KeyboardInterrupt:
        return 130
    except Exception as e:  # bind errors, bad keys: say it plainly
        return fail(f"cannot start on {args.endpoint}: {e}")
    for sig in (signal.SIGTERM, signal.SIGINT):  # SIGINT too: a shell's background job inherits it ignored
        signal.signal(sig, lambda *_: server.stop())
    spare_from_gc()
    # This thread serves: real-time from here on (what it starts later begins normal: reset on fork).
    scheduler = "normal scheduler" if args.no_realtime else try_realtime(SERVER_PRIORITY, reset_on_fork=True)
    # One line, the first on stdout: scripts wait for "serving" in it.
    print(f"hgd-serve: serving {server.handshake.checkpoint_id} on {server.bound_endpoint} "
          f"(warmed up in {server.warmup_s:.2f} s, torch threads {chosen.threads}, {scheduler})", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
