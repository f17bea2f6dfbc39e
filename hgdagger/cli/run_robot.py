"""hgd-run: drive the sim arm (or, later, a real arm) with chunks from a policy server."""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import sys
from dataclasses import asdict
from pathlib import Path

import numpy as np

from hgdagger.cli.arguments import (
    add_intent_security, add_log_level, endpoint, existing_file, fail, intent_security, nonnegative_float, nonnegative_int,
    positive_float, positive_int, reports_missing_extras, writable_file,
)
from hgdagger.cli.operator_session import run_session, session_plan
from hgdagger.cli.robot_options import RobotOpenError, add_robot_arguments, cartesian_model, open_robot, resolve
from hgdagger.cli.session_recording import RecordingError, add_record_arguments, next_round_folder, open_recording

MODES = ("rtc", "naive", "ensemble", "sync")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="hgd-run",
        description="The robot runtime: a fixed-rate loop that executes action chunks from a policy server "
        "(hgd-serve) on a robot: the sim arm, a real arm from its robot config, or its physics twin. It never waits on the network: if chunks stop coming (server slow or "
        "killed) the arm holds and the step is marked 'hold'; when they come back it ramps back in. Every "
        "command passes a safety filter (joint range, per-step velocity, NaN rejection). Each step can be "
        "recorded (this command starts its own recorder unless told --record-to or --no-record). With "
        "--takeover devices a supervisor starts each episode (n / X), can take over at any time, and labels "
        "each attempt; their label is what is stored, the task's own check beside it.",
        epilog="Execution modes:\n"
        "  rtc       real-time chunking: requests carry the committed prefix and the measured delay (default)\n"
        "  naive     asynchronous, switch to each new chunk as soon as it arrives\n"
        "  ensemble  ACT temporal ensembling: average every chunk covering the step\n"
        "  sync      execute --execute-steps actions, then stop and wait for the next chunk\n"
        "Examples:\n"
        "  hgd-serve --policy expert:pick_place &\n"
        "  hgd-run --server tcp://127.0.0.1:5555 --robot pick_place --episodes 3 --no-record\n"
        "  hgd-device keyboard      # another terminal: n starts an episode, t takes over, enter/b/x label it\n"
        "  hgd-run --robot pick_place --takeover devices --episodes 5 --console\n"
        "      # records into runs/pick_place/round_<r+1>/data, r the newest round with a checkpoint\n"
        "  hgd-run --robot koch --port /dev/ttyUSB0 --takeover devices --record-to tcp://127.0.0.1:5560",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--server", type=endpoint, default="tcp://127.0.0.1:5555", help="policy server endpoint (default: tcp://127.0.0.1:5555)")
    add_robot_arguments(p)
    p.add_argument("--mode", choices=MODES, default="rtc", help="chunk execution mode (default: rtc)")
    p.add_argument("--execute-steps", type=positive_int, default=8,
                   help="sync: actions executed per chunk; rtc/naive: steps between requests (default: 8)")
    p.add_argument("--ensemble-decay", type=nonnegative_float, default=0.01, help="ACT's m for --mode ensemble (default: 0.01)")
    p.add_argument("--episodes", type=positive_int, default=1, help="labelled episodes to run (discarded ones are redone; default: 1)")
    p.add_argument("--max-steps", type=positive_int, default=None,
                   help="step limit per episode, replacing the task's own (at 20 Hz 1200 steps = 1 minute; default: a sim "
                   "task's own limit, a real arm 60 s)")
    p.add_argument("--seed", type=int, default=0, help="seed of the first episode (default: 0)")
    p.add_argument("--connect-timeout", type=positive_float, default=10.0, help="seconds to wait for the server's handshake (default: 10)")
    p.add_argument("--request-timeout", type=positive_float, default=1.0, help="seconds before a request counts as lost (default: 1)")
    add_record_arguments(p, "runs/<robot>/round_<r+1>/data")
    p.add_argument("--operator", default="", help="the supervisor's name, stored with every episode")
    p.add_argument("--no-realtime", action="store_true", help="do not try SCHED_FIFO for the loop thread")
    p.add_argument("--curve-server", type=existing_file, default=None, help="the server's public certificate (enables CURVE)")
    p.add_argument("--curve-secret", type=existing_file, default=None, help="this robot's secret certificate")
    p.add_argument("--report", default=None, help="write the run report (timing, holds, events) as JSON here")
    p.add_argument("--takeover", choices=["none", "devices"], default="none",
                   help="'devices': listen for hgd-device processes (keyboard, gamepad, pedal) that can take over")
    p.add_argument("--takeover-mode", choices=["toggle", "deadman"], default="toggle",
                   help="toggle: press to take over and again to hand back; deadman: intervene while held (default: toggle)")
    p.add_argument("--intent-endpoint", type=endpoint, default="tcp://127.0.0.1:5561", help="where devices send intent (default: tcp://127.0.0.1:5561)")
    add_intent_security(p)
    p.add_argument("--ramp-steps", type=nonnegative_int, default=5, help="handover ramp length in control steps (default: 5)")
    p.add_argument("--console", action="store_true", help="open the operator console window")
    p.add_argument("--doubt-threshold", type=nonnegative_float, default=0.05,
                   help="chunk spread (rad) at which the console's doubt gauge alarms; the server must run with "
                   "--doubt-samples (default: 0.05)")
    add_log_level(p)
    return p


def views_of_policy(client, views: tuple[str, ...], args) -> tuple[str, ...]:
    """`views` and the cameras the served policy reads, which a sim robot then renders at the
    policy's size (--image-size follows it). RobotOpenError when the server does not answer."""
    from policy_server.client import PolicyClient, ServerUnavailable
    from hgdagger.common.observation_sets import cameras_in

    probe = PolicyClient(client)
    try:
        shapes = probe.connect(args.connect_timeout).observation_shapes
    except ServerUnavailable as e:
        raise RobotOpenError(str(e)) from None
    finally:
        probe.close()
    cameras, size = cameras_in({k: tuple(v) for k, v in shapes.items()})
    if not cameras:
        return views
    args.image_size = f"{size[0]}x{size[1]}"
    print(f"hgd-run: the policy sees the {', '.join(cameras)} camera{'s' * (len(cameras) > 1)} at {args.image_size}: "
          "rendering them", flush=True)
    return tuple(sorted(set(views) | set(cameras)))


@reports_missing_extras
def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    security, problem = intent_security(args)
    if problem:
        return fail(problem)
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(name)s %(levelname)s %(message)s")
    logging.getLogger("OpenGL").setLevel(logging.WARNING)  # PyOpenGL's start-up notes are not the operator's business
    if bool(args.curve_server) != bool(args.curve_secret):
        return fail("CURVE needs both --curve-server and --curve-secret")
    if args.report and (problem := writable_file(args.report, "--report")):
        return fail(problem)  # checked now, not after every episode has run
    from policy_server.client import ClientConfig, ServerUnavailable
    from teleop.executor import ExecConfig, Mode
    from teleop.fetcher import ChunkFetcher
    from teleop.runtime import RobotRuntime, RuntimeConfig

    client = ClientConfig(endpoint=args.server, robot_id="", request_timeout_s=args.request_timeout,
                          curve_server_public_file=args.curve_server, curve_client_secret_file=args.curve_secret)
    try:
        watched = args.console or args.takeover == "devices"  # a supervisor needs to see what the arm does
        views = ("front", "wrist") if watched else ()
        if resolve(args).driver_type == "sim" and args.cameras is None:  # render what the policy sees, at its size
            views = views_of_policy(client, views, args)
        robot, driver = open_robot(args, seed=args.seed, sim_arm_cameras=views)
        arm_model = cartesian_model(robot) if args.takeover == "devices" else None
    except RobotOpenError as e:
        return fail(str(e))
    fetcher = ChunkFetcher(dataclasses.replace(client, robot_id=robot.name))
    cfg = RuntimeConfig(execution=ExecConfig(mode=Mode(args.mode), execute_steps=args.execute_steps,
                                             ensemble_decay=args.ensemble_decay), realtime=not args.no_realtime,
                        doubt_threshold=args.doubt_threshold)
    human = merger = None
    if args.takeover == "devices":
        from teleop.gate import TakeoverMode
        from teleop.operator_setup import HumanOptions, device_human_side

        try:
            human, merger = device_human_side(HumanOptions(intent_endpoint=args.intent_endpoint, **security, ramp_steps=args.ramp_steps,
                                                           mode=TakeoverMode(args.takeover_mode)), driver.spec.control_period, arm_model)
        except Exception as e:  # address in use, malformed endpoint
            driver.close()
            return fail(f"cannot listen for devices on {args.intent_endpoint}: {e}")
    rt = RobotRuntime(driver, fetcher, cfg, None, human=human, gil_sharers=[getattr(driver, "cameras", None)])
    try:
        hs = rt.start(connect_timeout_s=args.connect_timeout)
        recording = open_recording(args, next_round_folder(robot.name, "rollout"), driver.spec.joint_names)
    except (ServerUnavailable, ValueError, RecordingError) as e:
        rt.close()
        driver.close()
        if merger:
            merger.close()
        return fail(str(e))
    rt.attach_records(recording.records, recording.forwarder)
    if recording.rerun is not None:  # its thread shares the loop's GIL too: the runtime sets its priority
        rt.attach_records(recording.records, recording.rerun)
        recording.watch(rt)
    print(f"hgd-run: {robot.name}: {hs.checkpoint_id} from {args.server} (H={hs.chunk_length}), mode {args.mode}, "
          f"{driver.spec.control_hz:g} Hz"
          + (f", takeover by devices on {args.intent_endpoint} ({args.takeover_mode})" if human else "")
          + f"; {recording.where}", flush=True)
    console = None
    if args.console:
        from teleop.operator_setup import ConsoleThread

        console = ConsoleThread(rt)
    plan = session_plan(args, robot, driver, "rollout", with_operator=human is not None)
    results = []

    def episode_done(done) -> None:
        rep = done.report
        t = rep.timing
        lat = np.median(rep.latency_ms) if rep.latency_ms else float("nan")
        print(f"  policy={rep.policy_steps} hold={rep.hold_steps} clipped={rep.clipped} rejected={rep.rejected} "
              f"latency_p50={lat:.1f} ms jitter p50/p99/max={t.get('jitter_p50_ms', 0):.3f}/"
              f"{t.get('jitter_p99_ms', 0):.3f}/{t.get('jitter_max_ms', 0):.3f} ms [{rep.scheduler}]", flush=True)
        results.append(asdict(rep) | {"success": rep.label == "success", "episode": done.index, "seed": done.seed,
                                      "saved": done.saved, "saved_as": done.saved_line})

    try:
        run_session(rt, driver, plan, recording, say=lambda line: print(line, flush=True), on_episode=episode_done,
                    echo_warnings=console is None)
    except KeyboardInterrupt:
        print("interrupted: the episode in progress is kept as 'aborted'; every finished one is saved")
    finally:
        if console:
            console.stop()
        rt.close()
        if merger:
            merger.close()
        note = recording.close()
        if note:
            print(f"hgd-run: {note}")
        driver.close()
    if args.report:
        Path(args.report).parent.mkdir(parents=True, exist_ok=True)
        Path(args.report).write_text(json.dumps(results, indent=1, default=float))
    return 0


@reports_missing_extras
def reload_main(argv: list[str] | None = None) -> int:
    """hgd-reload: tell a running policy server to load a checkpoint (no restart)."""
    p = argparse.ArgumentParser(prog="hgd-reload", description="Ask a running hgd-serve to load a new checkpoint between "
                                "two batches. If it fails to load, the old one keeps serving and the error is printed.")
    p.add_argument("checkpoint", nargs="?", default="", help="checkpoint file (default: reload the current one)")
    p.add_argument("--server", type=endpoint, default="tcp://127.0.0.1:5555", help="the server (default: %(default)s)")
    p.add_argument("--timeout", type=positive_float, default=120.0, help="seconds to wait for the verdict (default: 120)")
    args = p.parse_args(argv)
    from policy_server.client import ClientConfig, PolicyClient, ServerUnavailable

    c = PolicyClient(ClientConfig(endpoint=args.server))
    try:
        r = c.reload(args.checkpoint, timeout_s=args.timeout)
    except ServerUnavailable as e:
        return fail(str(e))
    finally:
        c.close()
    print(("ok: " if r.ok else "FAILED: ") + f"serving {r.checkpoint_id}. {r.message}")
    return 0 if r.ok else 1


if __name__ == "__main__":
    sys.exit(main())
