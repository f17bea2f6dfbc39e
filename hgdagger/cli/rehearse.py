"""hgd-rehearse: puppeteer the sim arm with a simulated leader arm, through the real takeover path."""

from __future__ import annotations

import argparse
import json
import sys

import numpy as np

from hgdagger.cli.arguments import (
    add_intent_security, endpoint, existing_file, fail, intent_security, nonnegative_float, positive_float,
    record_forwarder, reports_missing_extras,
)


@reports_missing_extras
def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="hgd-rehearse",
        description="Rehearse leader-arm teleoperation on the sim, no hardware needed. A simulated leader arm "
        "replays what a skilled operator's hands would do (the task's scripted expert, on a shadow copy) through "
        "a calibration file, over the same ZeroMQ intent path a real leader uses. It asks to take over after "
        "--takeover-at seconds; the follower is not released until the leader is within --tolerance of it "
        "(the console and the log name the joints that are off), then the gap closes with a ramp.",
        epilog="Example: hgd-rehearse --task pick_place --offset-joint 3 --offset-rad 0.5 --console")
    p.add_argument("--task", default="pick_place")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--hz", type=positive_float, default=20.0)
    p.add_argument("--calibration", default=None, help="leader calibration JSON (default: identity)")
    p.add_argument("--takeover-at", type=nonnegative_float, default=0.5, help="seconds before the leader asks for control")
    p.add_argument("--offset-joint", type=int, default=0, help="start the leader off the follower at this joint (1-7; 0: none)")
    p.add_argument("--offset-rad", type=float, default=0.4, help="... by this much, closing over --settle-s seconds")
    p.add_argument("--settle-s", type=nonnegative_float, default=2.0, help="seconds the operator takes to bring the leader into line")
    p.add_argument("--tolerance", type=positive_float, default=0.15, help="alignment tolerance per joint (rad)")
    p.add_argument("--intent-endpoint", type=endpoint, default="ipc:///tmp/hgd-rehearse-intent")
    add_intent_security(p)
    p.add_argument("--record-to", type=endpoint, default=None)
    p.add_argument("--record-curve-server", type=existing_file, default=None,
                   help="the recorder's public certificate (its stream is then encrypted; see hgd-record --help)")
    p.add_argument("--record-curve-secret", type=existing_file, default=None, help="this robot's secret certificate")
    p.add_argument("--console", action="store_true")
    p.add_argument("--realtime", action="store_true", help="run at wall-clock speed (default: as fast as possible)")
    args = p.parse_args(argv)
    security, problem = intent_security(args)
    if problem:
        return fail(problem)
    if not 0 <= args.offset_joint <= 7:
        return fail("--offset-joint must be 0 (none) or 1..7")

    import sim
    from sim.driver import SimArmDriver
    from teleop.devices.leader_arm import LeaderCalibration, SimulatedLeaderArm
    from hgdagger.common.record_queue import RecordQueue
    from teleop.runtime import RobotRuntime, RuntimeConfig
    from sim.arm_model import SimArmModel
    from sim.rehearsal import expert_joint_trajectory
    from teleop.operator_setup import ConsoleThread, HumanOptions, SimulatedLeaderDevice, device_human_side, start_device_thread

    if args.task not in sim.task_names():
        return fail(f"unknown task {args.task!r}; tasks: {', '.join(sim.task_names())}")
    try:
        cal = LeaderCalibration.load(args.calibration) if args.calibration else LeaderCalibration.identity(7)
    except ValueError as exc:
        return fail(str(exc))
    driver = SimArmDriver(task=args.task, seed=args.seed, control_hz=args.hz)
    track, length = expert_joint_trajectory(args.task, args.seed, driver.env.max_steps, args.hz)
    offset = np.zeros(8)
    if args.offset_joint:
        offset[args.offset_joint - 1] = args.offset_rad

    start_task = args.takeover_at + args.settle_s

    def operator_hands(t: float) -> np.ndarray:
        """Like a person: first bring the leader into line with the arm (an initial misalignment that
        shrinks over settle_s), then perform the task (the expert's track)."""
        if t < start_task:
            return track(0.0) + offset * (1.0 - t / start_task)
        return track(t - start_task)

    leader = SimulatedLeaderArm(operator_hands, cal)
    human, merger = device_human_side(HumanOptions(intent_endpoint=args.intent_endpoint, **security, leader_tolerance=args.tolerance),
                                      driver.spec.control_period, SimArmModel())
    device = SimulatedLeaderDevice(leader, lambda: driver.observe()["joint_pos"], args.tolerance,
                                   1.0 / args.hz, args.takeover_at)
    thread, stop = start_device_thread(device, merger.endpoint, args.hz)
    records = RecordQueue()
    try:
        forwarder = record_forwarder(records, args)
    except ValueError as e:  # unusable recorder keys
        return fail(str(e))
    rt = RobotRuntime(driver, None, RuntimeConfig(realtime=False), records if forwarder else None, human=human)
    rt.start()
    console = ConsoleThread(rt) if args.console else None
    aligned_at: list[int] = []
    rt.on_step = lambda step, source, sent: aligned_at.append(step) if source.name == "HUMAN" and not aligned_at else None
    try:
        report = rt.run_episode(driver.env.max_steps, task=args.task, kind="demo",
                                seed=args.seed, env_args=json.dumps({"type": "hgd_sim", "task": args.task, "seed": args.seed}))
    finally:
        stop.set()
        thread.join(timeout=2)
        if console:
            console.stop()
        rt.close()
        merger.close()
        if forwarder:
            forwarder.close()
    first = aligned_at[0] if aligned_at else None
    print(f"hgd-rehearse: {args.task} seed {args.seed}: {report.label}; follower released to the leader at step "
          f"{first} ({'never' if first is None else f'{first / args.hz:.2f} s'}); {report.human_steps} leader-driven steps, "
          f"{report.hold_steps} held while aligning")
    driver.close()
    return 0 if report.label == "success" else 1


if __name__ == "__main__":
    sys.exit(main())
