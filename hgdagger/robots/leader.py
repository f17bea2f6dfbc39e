"""The leader arm that fits a robot: its arm config from the robot config, checked joint by joint
against the follower before anything connects, and its calibration file."""

from __future__ import annotations

from hgdagger.robots.config import RobotConfig, RobotConfigError


def leader_arm_config(robot: RobotConfig, port: str | None = None):
    """The leader's ArmConfig, refused unless its joints are the follower's, name for name."""
    if robot.leader is None:
        raise RobotConfigError(f"{robot.name} has no leader arm in its robot config ({robot.origin}): add a 'leader' table")
    leader = robot.load_arm(robot.leader.arm, "leader.arm")
    if port:
        leader.bus.port = port
    check_leader_fits(robot, leader)
    return leader


def follower_joint_names(robot: RobotConfig) -> list[str] | None:
    """The follower's joint names as its driver table states them (None: the driver does not say)."""
    follower = robot.driver.get("follower")
    return None if follower is None else [j.name for j in robot.load_arm(follower, "driver.follower").joints]


def check_leader_fits(robot: RobotConfig, leader) -> None:
    follower = follower_joint_names(robot)
    theirs = [j.name for j in leader.joints]
    if follower is not None and theirs != follower:
        raise RobotConfigError(f"leader arm {leader.name} does not fit {robot.name}: leader joints {theirs}, follower "
                               f"joints {follower}; they must match joint by joint (names and order)")
    follower = robot.driver.get("follower")
    follower_gripper = None if follower is None else robot.load_arm(follower, "driver.follower").gripper is not None
    if follower_gripper is not None and follower_gripper != (leader.gripper is not None):
        raise RobotConfigError(f"leader arm {leader.name} and {robot.name}'s follower must both have a gripper, or neither")


def calibration_from_lerobot(arm):
    """The leader map for a leader read in its LeRobot calibration's frame: joints as they read (the
    follower's LeRobot calibration puts them in the same frame), the trigger's recorded range as the
    gripper's open..closed."""
    from teleop.devices.leader_arm import LeaderCalibration
    from teleop.dynamixel.calibration import JointMap, ticks_to_rad

    grip = ticks_to_rad([arm.gripper.open_ticks, arm.gripper.closed_ticks], [JointMap()] * 2) if arm.gripper else (-0.5, 0.5)
    n = len(arm.joints)
    return LeaderCalibration((1.0,) * n, (0,) * n, float(grip[0]), float(grip[1]))


def leader_calibration(robot: RobotConfig, override: str | None, joints: int, arm=None):
    """The calibration file given on the command line, else the robot config's, else (a leader arm
    ``arm`` with a LeRobot calibration) the map that calibration implies; with none, the identity map
    (gripper trigger -0.5..0.5 rad), and a warning that the arm is uncalibrated."""
    from teleop.devices.leader_arm import LeaderCalibration

    path = override or (robot.resolve(robot.leader.calibration) if robot.leader and robot.leader.calibration else None)
    if path is None and arm is not None and getattr(arm, "lerobot_calibration", None):
        return calibration_from_lerobot(arm), ""
    if path is None:
        return LeaderCalibration((1.0,) * joints, (0,) * joints, -0.5, 0.5), (
            "no leader calibration given: using the identity map (run hgd-calibrate-leader, then pass --calibration)")
    calibration = LeaderCalibration.load(path)
    if len(calibration.signs) != joints:
        raise RobotConfigError(f"calibration {path} has {len(calibration.signs)} joints, the leader arm {joints}")
    return calibration, ""
