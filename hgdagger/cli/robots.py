"""hgd-robots: which robots a session can drive, and a built-in robot's config to start your own from."""

from __future__ import annotations

import argparse
import json
import sys

from hgdagger.cli.arguments import fail, reports_missing_extras


@reports_missing_extras
def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="hgd-robots",
        description="List the robots --robot accepts (built-in robots, sim tasks, driver types), or print one's "
        "config: copy a built-in robot's, put in your ports and cameras, and pass the file as --robot.",
        epilog="Examples:\n  hgd-robots\n  hgd-robots show koch > configs/robots/lab_koch.json\n"
        "  hgd-robots show koch --expand > lab_koch.json    # with the servo tables inline, to edit IDs or limits\n"
        "  hgd-robots show configs/robots/lab_koch.json     # checks a config: every field, and the leader fits",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("action", nargs="?", choices=["list", "show"], default="list")
    p.add_argument("robot", nargs="?", metavar="NAME_OR_PATH", help="with show: the robot")
    p.add_argument("--expand", action="store_true",
                   help="with show: write the follower's and leader's arm configs (servo IDs, models, limits) inline")
    args = p.parse_args(argv)

    from hgdagger.robots.config import RobotConfigError
    from hgdagger.robots.leader import leader_arm_config
    from hgdagger.robots.registry import builtin_robots, driver_type_descriptions, resolve_robot

    if args.action == "list":
        import sim

        print("built-in robots:")
        for name in builtin_robots():
            robot = resolve_robot(name)
            print(f"  {name:<16} {robot.driver_type:<15} {len(robot.cameras)} camera(s), kinematics {robot.kinematics}")
        print("sim tasks (a simulated robot each): " + ", ".join(sim.task_names()))
        print("driver types:")
        for name, description in driver_type_descriptions().items():
            print(f"  {name:<16} {description}")
        return 0
    if not args.robot:
        return fail("show needs a robot: hgd-robots show koch")
    try:
        robot = resolve_robot(args.robot)
        if robot.leader is not None:
            leader_arm_config(robot)  # a leader that does not fit is said now
    except (RobotConfigError, ValueError) as exc:
        return fail(str(exc))
    raw = {"name": robot.name, "task": robot.task, "driver": robot.driver, "control_hz": robot.control_hz,
           "cameras": list(robot.cameras), "kinematics": robot.kinematics,
           "leader": None if robot.leader is None else {"arm": robot.leader.arm, "calibration": robot.leader.calibration}}
    if args.expand:
        from hgdagger.robots.arms import arm_to_dict

        if "follower" in robot.driver:
            raw["driver"] = {**robot.driver, "follower": arm_to_dict(robot.load_arm(robot.driver["follower"], "driver.follower"))}
        if robot.leader is not None:
            raw["leader"]["arm"] = arm_to_dict(robot.load_arm(robot.leader.arm, "leader.arm"))
    try:
        print(json.dumps({k: v for k, v in raw.items() if v not in (None, "")}, indent=2))
    except BrokenPipeError:  # piped into head: fine
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
