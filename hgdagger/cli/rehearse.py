"""hgd-rehearse: puppeteer a simulated robot with a simulated leader arm, through the real takeover path."""

from __future__ import annotations

import argparse
import json
import logging
import sys

import numpy as np

from hgdagger.cli.arguments import (
    add_intent_security, add_log_level, endpoint, fail, intent_security, nonnegative_float, positive_float, positive_int,
    reports_missing_extras,
)
from hgdagger.cli.operator_session import default_step_limit
from hgdagger.cli.robot_options import RobotOpenError, add_robot_arguments, open_robot
from hgdagger.cli.session_recording import add_record_arguments, next_round_folder, open_recording


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="hgd-rehearse",
        description="Rehearse leader-arm teleoperation with no hardware, or collect demonstrations unattended. A "
        "simulated operator's hands (the task's scripted expert, closed loop on what the follower observes) move a "
        "leader arm: on the Koch twin an emulated Dynamixel leader on its own pty, read by the real leader driver; on "
        "the sim arm a simulated leader read through a calibration. Either way its commands take the same ZeroMQ "
        "intent path a real leader uses. The hands ask for control after --takeover-at seconds; the follower is not "
        "released until the leader is within --tolerance of it (the console and the log name the joints that are "
        "off), then the gap closes with a ramp.",
        epilog="Examples:\n"
        "  hgd-rehearse --robot pick_place --offset-joint 3 --offset-rad 0.5 --console --no-record\n"
        "  hgd-rehearse --robot koch_twin --episodes 20           # demonstrations into runs/koch_twin/round_0/data\n"
        "  hgd-rehearse --robot koch_twin --server tcp://127.0.0.1:5555 --takeover-at 1.5 --episodes 5   # HG-DAgger",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    add_robot_arguments(p)
    p.add_argument("--server", type=endpoint, default=None,
                   help="a policy server (hgd-serve): the policy drives until the leader takes over (a supervised "
                   "rollout, recorded as kind 'rollout'); without it the follower holds until then (a demonstration)")
    p.add_argument("--connect-timeout", type=positive_float, default=10.0, help="seconds to wait for the server (default 10)")
    p.add_argument("--episodes", type=positive_int, default=1, help="episodes to run (default: 1)")
    p.add_argument("--seed", type=int, default=0, help="seed of the first episode (default: 0)")
    p.add_argument("--calibration", default=None, help="leader calibration JSON (default: the robot config's, else identity)")
    p.add_argument("--takeover-at", type=nonnegative_float, default=0.5, help="seconds before the leader asks for control")
    p.add_argument("--offset-joint", type=int, default=0, help="start the leader off the follower at this joint (1..N; 0: none)")
    p.add_argument("--offset-rad", type=float, default=0.4, help="... by this much, closing over --settle-s seconds")
    p.add_argument("--settle-s", type=nonnegative_float, default=1.0, help="seconds the operator takes to bring the leader into line")
    p.add_argument("--tolerance", type=positive_float, default=0.15, help="alignment tolerance per joint (rad)")
    p.add_argument("--intent-endpoint", type=endpoint, default="ipc:///tmp/hgd-rehearse-intent",
                   help="where the simulated leader sends intent (default: %(default)s)")
    add_intent_security(p)
    add_record_arguments(p, "runs/<robot>/round_0/data; with --server, round_<r+1>")
    p.add_argument("--operator", default="rehearsal", help="stored with every episode (default: rehearsal)")
    p.add_argument("--console", action="store_true", help="open the operator console window")
    add_log_level(p)
    return p


@reports_missing_extras
def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=args.log_level, format="%(name)s: %(message)s")
    security, problem = intent_security(args)
    if problem:
        return fail(problem)

    import sim
    from hgdagger.common.types import Source
    from hgdagger.robots.leader import leader_arm_config, leader_calibration
    from hgdagger.robots.registry import episode_env_args, is_simulated
    from sim.rehearsal import ExpertHands, emulated_leader
    from teleop.devices.leader_arm import SimulatedLeaderArm
    from teleop.operator_setup import (ConsoleThread, HumanOptions, PressesTakeover, SimulatedLeaderDevice,
                                       device_human_side, start_device_thread)
    from teleop.runtime import RobotRuntime, RuntimeConfig

    try:
        robot, driver = open_robot(args, seed=args.seed)
    except RobotOpenError as exc:
        return fail(str(exc))
    task = robot.driver.get("task")
    closing = [driver]
    try:
        if not is_simulated(robot) or not task:
            raise RobotOpenError(f"{robot.name} has no scripted expert to play the operator's hands: rehearse on a sim "
                                 "robot or a twin (hgd-rehearse --robot koch_twin); on a real arm use hgd-leader")
        n = driver.spec.num_joints
        if not 0 <= args.offset_joint <= n:
            raise RobotOpenError(f"--offset-joint must be 0 (none) or 1..{n}")
        emulate = robot.leader is not None
        lcfg = leader_arm_config(robot) if emulate else None
        cal, _ = leader_calibration(robot, args.calibration, n) if emulate else (None, "")
        if not emulate:
            from teleop.devices.leader_arm import LeaderCalibration

            cal = LeaderCalibration.load(args.calibration) if args.calibration else LeaderCalibration.identity(n)
    except (RobotOpenError, ValueError) as exc:
        driver.close()
        return fail(str(exc))
    offset = np.zeros(n + 1)
    if args.offset_joint:
        offset[args.offset_joint - 1] = args.offset_rad
    human, merger = device_human_side(HumanOptions(intent_endpoint=args.intent_endpoint, **security,
                                                   leader_tolerance=args.tolerance),
                                      driver.spec.control_period, None)
    closing.append(merger)
    fetcher = None
    if args.server:
        from policy_server.client import ClientConfig
        from teleop.fetcher import ChunkFetcher

        fetcher = ChunkFetcher(ClientConfig(endpoint=args.server, robot_id=robot.name))
    rt = RobotRuntime(driver, fetcher, RuntimeConfig(realtime=False), None, human=human)
    try:
        rt.start(connect_timeout_s=args.connect_timeout)
        recording = open_recording(args, next_round_folder(robot.name, "rollout" if args.server else "demo"),
                                   driver.spec.joint_names)
    except Exception as exc:  # server unreachable, its policy for another robot, no recorder
        rt.close()
        for part in reversed(closing):
            part.close()
        return fail(str(exc))
    rt.attach_records(recording.records, recording.forwarder)
    recording.watch(rt)
    print(f"hgd-rehearse: {robot.name}, {recording.where}", flush=True)
    hands = ExpertHands(sim.make_expert(task, control_hz=driver.spec.control_hz), lambda: rt.last_observation,
                        lambda: rt.last_source == Source.HUMAN, offset, args.takeover_at + args.settle_s)
    hands.reset(args.seed, driver.observe())  # the leader has somewhere to be before the device thread starts
    if emulate:  # an emulated Dynamixel leader on its own pty, read by the real leader driver
        from teleop.dynamixel.dynamixel_leader import DynamixelLeader, DynamixelLeaderDevice

        bus = emulated_leader(lcfg, cal, hands).start()
        lcfg.bus.port = bus.port
        device = PressesTakeover(DynamixelLeaderDevice(DynamixelLeader(lcfg), cal), args.takeover_at, lambda: hands.elapsed)
        closing.append(bus)
    else:
        leader = SimulatedLeaderArm(lambda t: hands(), cal)
        device = SimulatedLeaderDevice(leader, lambda: rt.last_observation.get("joint_pos", np.zeros(n)),
                                       args.tolerance, driver.spec.control_period, None)
        device = PressesTakeover(device, args.takeover_at, lambda: hands.elapsed)
    thread, stop = start_device_thread(device, merger.endpoint, 50.0)
    console = ConsoleThread(rt) if args.console else None
    released: list[int] = []
    rt.on_step = lambda step, source, sent: released.append(step) if source.name == "HUMAN" and not released else None
    max_steps = default_step_limit(driver)
    labels, saves = [], []
    try:
        for i in range(args.episodes):
            seed = args.seed + i
            released.clear()
            hands.reset(seed, driver.reset(seed))
            report = rt.run_episode(max_steps, task=robot.task or task, kind="rollout" if args.server else "demo",
                                    seed=seed, operator=args.operator,
                                    env_args=json.dumps(episode_env_args(robot, seed)))
            labels.append(report.label)
            saved, line = recording.saved(rt.episode_id)
            saves.append(saved)
            first = released[0] if released else None
            print(f"hgd-rehearse: {robot.name} seed {seed}: {report.label}; follower released to the leader at step "
                  f"{first} ({'never' if first is None else f'{first / driver.spec.control_hz:.2f} s'}); "
                  f"{report.human_steps} leader-driven steps, {report.hold_steps} held"
                  + (f", {report.policy_steps} policy steps" if args.server else " while aligning") + f": {line}", flush=True)
    except KeyboardInterrupt:
        print("interrupted: the episode in progress is kept as 'aborted'; every finished one is saved")
    finally:
        stop.set()
        thread.join(timeout=2)
        if console:
            console.stop()
        rt.close()
        note = recording.close()
        if note:
            print(f"hgd-rehearse: {note}")
        for part in reversed(closing):
            if hasattr(part, "close"):
                part.close()
            else:
                part.stop()
    ok = labels and all(label == "success" for label in labels) and (args.no_record or all(saves))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
