"""hgd-bench-takeover: how fast a takeover reaches the arm, and whether handovers ever jerk it.

1. Takeover latency: a device process presses the takeover button at random moments while the
   runtime runs a policy at 50 Hz in real time; latency = from the press leaving the device to the
   first human-sourced command reaching the driver. Target: within one control period plus the
   device's own poll period.
2. Handover smoothness: 50 takeovers and 50 handbacks (lockstep sim, the scripted expert served as
   the policy, a person steering elsewhere); the largest commanded joint jump and velocity at every
   handover, against the safety filter's per-step limit.
3. Stick-to-command latency of the gamepad path: every tick, from the stick reading leaving the
   device to the IK command computed from it reaching the driver.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np



def spawn_server(endpoint: str, policy: str) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-m", "hgdagger.cli.serve", "--endpoint", endpoint, "--log-level", "WARNING",
                             "--policy", policy], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    line = proc.stdout.readline()
    if "serving" not in line:
        raise RuntimeError(f"policy server did not start: {line}")
    return proc


def takeover_latency(seconds: float, hz: float, device_rate: float, robot: str | None = None,
                     device_kind: str = "pad") -> dict:
    """robot None: the sim arm running a policy; a robot name (koch_twin): that robot holding, its driver
    built as ``--robot`` builds it (the twin: the real follower driver over its pty), no cameras.
    device_kind "pad" (a gamepad or keyboard stream of twists) or "leader" (a leader arm's commands)."""
    from hgdagger.common.types import Source
    from policy_server.client import ClientConfig
    from teleop.executor import ExecConfig, Mode
    from teleop.fetcher import ChunkFetcher
    from teleop.runtime import RobotRuntime, RuntimeConfig
    from teleop.operator_setup import HumanOptions, device_human_side

    tmp = tempfile.mkdtemp()
    server = None
    if robot is None:
        from sim.arm_model import SimArmModel
        from sim.driver import SimArmDriver

        server = spawn_server(f"ipc://{tmp}/srv", "toy")  # never finishes the task: the episode runs the whole time
        driver = SimArmDriver(task="reach", seed=0, control_hz=hz, max_steps=10**9)
        arm, fetcher = SimArmModel(), ChunkFetcher(ClientConfig(endpoint=f"ipc://{tmp}/srv"))
    else:
        from hgdagger.robots.registry import DriverOptions, build_driver, resolve_robot
        from sim.arm_models import arm_model

        config = resolve_robot(robot)
        driver = build_driver(config, DriverOptions(control_hz=hz, cameras=False))
        if hasattr(driver, "max_steps"):
            driver.max_steps = None
        arm, fetcher = arm_model(config.kinematics), None
    human, merger = device_human_side(HumanOptions(intent_endpoint=f"ipc://{tmp}/intent", ramp_steps=5),
                                      driver.spec.control_period, arm)
    rt = RobotRuntime(driver, fetcher, RuntimeConfig(execution=ExecConfig(mode=Mode.RTC)), human=human)
    rt.start()
    extra = []
    if device_kind == "leader":
        obs = driver.observe()
        extra = ["--leader-pose", ",".join(f"{x:.6f}" for x in np.append(obs["joint_pos"], obs["gripper_pos"][:1]))]
    device = subprocess.Popen([sys.executable, "-m", "hgdagger.benchmarks.scripted_device", "--endpoint", merger.endpoint,
                               "--rate", str(device_rate), "--seconds", str(seconds + 2), "--toggle-every", "0.4", *extra])
    takeover_ms, stick_ms = [], []
    previous = {"human": False}

    def on_step(step, source, sent):
        now = time.time()
        reading = human.last_reading
        in_control = rt.human_in_control
        if reading is not None and reading.input_time is not None and source == Source.HUMAN:
            stick_ms.append((now - reading.input_time) * 1e3)
            if in_control and not previous["human"]:
                takeover_ms.append((now - reading.input_time) * 1e3)
        previous["human"] = in_control

    rt.on_step = on_step
    try:
        time.sleep(0.5)
        report = rt.run_episode(int(seconds * hz))
    finally:
        rt.close()
        merger.close()
        device.kill()
        if server is not None:
            server.kill()
        driver.close()
    return {"robot": robot or "sim arm (reach)", "device": device_kind, "takeover_ms": takeover_ms, "stick_to_command_ms": stick_ms, "timing": report.timing,
            "takeovers": report.takeovers, "control_period_ms": 1e3 / hz, "device_period_ms": 1e3 / device_rate}


def handover_smoothness(handovers: int, every: int) -> dict:
    from policy_server.client import ClientConfig
    from sim.arm_model import SimArmModel
    from sim.driver import SimArmDriver
    from teleop.cartesian import CartesianMapper, Twist
    from teleop.executor import ExecConfig, Mode
    from teleop.fetcher import ChunkFetcher
    from teleop.gate import GateConfig, TakeoverGate, TakeoverMode
    from teleop.human_side import FunctionInput, HumanSide
    from teleop.runtime import RobotRuntime, RuntimeConfig

    tmp = tempfile.mkdtemp()
    server = spawn_server(f"ipc://{tmp}/srv", "expert:pick_place")
    driver = SimArmDriver(task="pick_place", seed=0, max_steps=10**9)
    mapper = CartesianMapper(SimArmModel())
    rng = np.random.default_rng(0)
    state = {"twist": np.zeros(3), "was": False}

    def person(step, obs):
        """Drives for ``every`` steps, lets go for ``every``; pushes the arm a random way each time."""
        driving = (step // every) % 2 == 1
        if driving and not state["was"]:
            mapper.start_from(obs["joint_pos"], float(obs["gripper_pos"][0]))
            state["twist"] = rng.uniform(-1, 1, 3)
        state["was"] = driving
        return mapper.step(Twist(linear=state["twist"]), obs["joint_pos"], 0.05) if driving else None

    human = HumanSide(TakeoverGate(GateConfig(mode=TakeoverMode.DEADMAN, ramp_steps=5)), FunctionInput(person))
    rt = RobotRuntime(driver, ChunkFetcher(ClientConfig(endpoint=f"ipc://{tmp}/srv", request_timeout_s=5.0)),
                      RuntimeConfig(execution=ExecConfig(mode=Mode.RTC), lockstep=True, realtime=False), human=human)
    rt.start()
    sent, sources, filtered, ramping = [], [], [], []
    rt.on_step = lambda step, source, command: (sent.append(command.copy()), sources.append(int(source)),
                                                filtered.append(bool(rt.last_verdict)), ramping.append(human.gate.ramping))
    try:
        rt.run_episode(2 * handovers * every + every)
    finally:
        rt.close()
        server.kill()
    sent, sources = np.array(sent), np.array(sources)
    jumps = np.abs(np.diff(sent[:, :7], axis=0))
    switch = np.flatnonzero(np.diff(sources) != 0) + 1  # steps where the source changed
    window = np.unique(np.clip(np.concatenate([switch + k for k in range(0, 6)]) - 1, 0, len(jumps) - 1))
    inside = np.setdiff1d(np.arange(len(jumps)), window)
    limit = rt.limits.max_step[:7]
    period = driver.spec.control_period
    return {
        "handovers": int(len(switch)),
        "takeovers": int(rt.report.takeovers),
        "max_jump_rad_at_handovers": float(jumps[window].max()),
        "max_jump_rad_inside": float(jumps[inside].max()),
        "max_velocity_rad_s_at_handovers": float((jumps[window] / period).max()),
        "safety_limit_rad_per_step": float(limit.min()),
        "per_joint_ratio_to_limit_at_handovers": float((jumps[window] / limit).max()),
        "per_joint_ratio_to_limit_inside": float((jumps[inside] / limit).max()),
        "ramp_steps_the_safety_filter_had_to_change": int((np.array(filtered) & np.array(ramping)).sum()),
        "ramp_steps": int(np.sum(ramping)),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="hgd-bench-takeover", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=40.0, help="real-time run for the latency figures (default 40)")
    parser.add_argument("--hz", type=float, default=50.0, help="control rate of the latency run (default 50)")
    parser.add_argument("--device-rate", type=float, default=100.0, help="device messages per second (default 100)")
    parser.add_argument("--handovers", type=int, default=50, help="takeovers (and as many handbacks) for smoothness (default 50)")
    parser.add_argument("--robot", default=None, metavar="NAME_OR_PATH",
                        help="measure takeover latency on this robot instead (e.g. koch_twin: the real follower driver "
                        "over the twin's pty), from a keyboard/gamepad stream and from a leader arm (no smoothness run)")
    parser.add_argument("--json", default=None, help="default: benchmarks/results/takeover.json "
                        "(with --robot: takeover_<robot>.json)")
    args = parser.parse_args(argv)
    from hgdagger.common.stats import print_table, spread

    if args.robot:
        return robot_latency(args)

    latency = takeover_latency(args.seconds, args.hz, args.device_rate)
    smooth = handover_smoothness(args.handovers, every=12)
    take, stick = spread(latency["takeover_ms"]), spread(latency["stick_to_command_ms"])
    p99 = lambda xs: float(np.percentile(xs, 99)) if xs else float("nan")  # noqa: E731
    print(f"== Latency at {args.hz:g} Hz (control period {latency['control_period_ms']:.0f} ms, "
          f"device period {latency['device_period_ms']:.0f} ms) ==")
    print_table(["path", "n", "p50 ms", "p99 ms", "max ms", "target ms"], [
        ["takeover button -> first HUMAN command", take["n"], f"{take['median']:.1f}", f"{p99(latency['takeover_ms']):.1f}",
         f"{max(latency['takeover_ms'] or [float('nan')]):.1f}", f"{latency['control_period_ms'] + latency['device_period_ms']:.0f}"],
        ["stick reading -> IK command at driver", stick["n"], f"{stick['median']:.1f}", f"{p99(latency['stick_to_command_ms']):.1f}",
         f"{max(latency['stick_to_command_ms'] or [float('nan')]):.1f}", f"{latency['control_period_ms'] + latency['device_period_ms']:.0f}"],
    ])
    print(f"\n== Handover smoothness: {smooth['handovers']} handovers ({smooth['takeovers']} takeovers) ==")
    print_table(["", "largest joint jump (rad/step)", "rad/s", "÷ that joint's safety limit (must be <= 1)"], [
        ["at handovers (5 steps after each switch)", f"{smooth['max_jump_rad_at_handovers']:.4f}",
         f"{smooth['max_velocity_rad_s_at_handovers']:.2f}", f"{smooth['per_joint_ratio_to_limit_at_handovers']:.2f}"],
        ["everywhere else", f"{smooth['max_jump_rad_inside']:.4f}", "", f"{smooth['per_joint_ratio_to_limit_inside']:.2f}"],
    ])
    print(f"handover ramp steps the safety filter had to change: {smooth['ramp_steps_the_safety_filter_had_to_change']} "
          f"of {smooth['ramp_steps']} (the gate's ramps alone keep the arm under its limits: target 0)")
    out = {"latency": {k: v for k, v in latency.items()} | {"takeover": take, "stick": stick}, "smoothness": smooth}
    path = Path(args.json or "benchmarks/results/takeover.json")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(out, indent=1, default=float))
    print(f"\nwrote {path}")
    return 0


def robot_latency(args) -> int:
    """Takeover and command latency on one robot, from a keyboard/gamepad stream and from a leader arm."""
    from hgdagger.common.stats import print_table, spread

    p99 = lambda xs: float(np.percentile(xs, 99)) if xs else float("nan")  # noqa: E731
    runs = {kind: takeover_latency(args.seconds, args.hz, args.device_rate, args.robot, kind) for kind in ("pad", "leader")}
    period = 1e3 / args.hz
    print(f"== Takeover latency on {args.robot} at {args.hz:g} Hz (control period {period:.0f} ms, device period "
          f"{1e3 / args.device_rate:.0f} ms) ==")
    rows = []
    for kind, run in runs.items():
        take, cmd = spread(run["takeover_ms"]), spread(run["stick_to_command_ms"])
        label = "keyboard/gamepad" if kind == "pad" else "leader arm"
        rows.append([f"{label}: press -> first HUMAN command", take["n"], f"{take['median']:.1f}", f"{p99(run['takeover_ms']):.1f}"])
        rows.append([f"{label}: reading -> command at driver", cmd["n"], f"{cmd['median']:.1f}",
                     f"{p99(run['stick_to_command_ms']):.1f}"])
        run["takeover"], run["command"] = take, cmd
    print_table(["path", "n", "p50 ms", "p99 ms"], rows)
    path = Path(args.json or f"benchmarks/results/takeover_{Path(args.robot).stem}.json")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(runs, indent=1, default=float))
    print(f"\nwrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
