"""``--robot`` and its companions, the same in every session command (run, collect, rehearse,
puppet, replay, leader, loop): which robot, and the few things a session may override."""

from __future__ import annotations

from hgdagger.cli.arguments import parse_size, positive_float

ROBOT_HELP = ("a sim task (pick_place, reach, ...), a built-in robot (koch, koch_twin, so101, so101_twin) or a robot config file "
              "(JSON/TOML; see hgdagger/robots/builtin/koch.json)")


class RobotOpenError(Exception):
    """The robot could not be opened; the message is for the user, one line."""


def add_robot_arguments(p, default: str = "pick_place") -> None:
    p.add_argument("--robot", "--task", dest="robot", default=default, metavar="NAME_OR_PATH",
                   help=f"{ROBOT_HELP} (default: {default})")
    p.add_argument("--port", default=None, help="a real arm's serial port, overriding its robot config")
    p.add_argument("--hz", type=positive_float, default=None, help="control rate (default: the robot's; sim: 20)")
    p.add_argument("--cameras", default=None,
                   help="sim robots: rendered views to observe, comma-separated, e.g. front,wrist; '' for none (a real arm's "
                   "cameras come from its robot config)")
    p.add_argument("--image-size", default="128x128", help="sim robots: camera size HEIGHTxWIDTH (default: 128x128)")
    p.add_argument("--no-cameras", action="store_true",
                   help="leave a real arm's cameras closed (rehearsing on an emulator, or a state-only policy)")
    p.add_argument("--lerobot-calibration", default=None, metavar="FILE",
                   help="a real arm calibrated with LeRobot: its calibration JSON (e.g. ~/.cache/huggingface/lerobot/"
                   "calibration/robots/so101_follower/<id>.json), used as it is instead of the arm config's calibration")


def resolve(args):
    """The RobotConfig named by ``--robot`` (raises RobotOpenError with the reason)."""
    from hgdagger.robots.config import RobotConfigError
    from hgdagger.robots.registry import resolve_robot

    try:
        return resolve_robot(args.robot)
    except RobotConfigError as exc:
        raise RobotOpenError(str(exc)) from None


def open_robot(args, seed: int | None = 0, sim_arm_cameras: tuple[str, ...] = ()):
    """Resolve ``--robot`` and connect its driver: (RobotConfig, RobotDriver), or RobotOpenError
    naming what is wrong (unknown name, bad field, port missing, servo silent, camera absent).
    ``sim_arm_cameras``: the rendered views the sim arm observes when ``--cameras`` is not given."""
    from hgdagger.robots.registry import DriverOptions, build_driver

    robot = resolve(args)
    size = parse_size(args.image_size)
    if size is None:
        raise RobotOpenError(f"--image-size {args.image_size!r}: expected HEIGHTxWIDTH")
    cams = None if args.cameras is None else tuple(c for c in args.cameras.split(",") if c)
    if cams is None and robot.driver_type == "sim" and robot.kinematics == "panda":  # the sim arm renders these
        cams = sim_arm_cameras
    if cams and robot.driver_type != "sim":
        raise RobotOpenError(f"--cameras is for sim robots; {robot.name}'s cameras come from its robot config ({robot.origin})")
    calibration = getattr(args, "lerobot_calibration", None)
    if calibration and robot.driver_type not in ("dynamixel", "feetech"):
        raise RobotOpenError(f"--lerobot-calibration is for real arms; {robot.name} is driven by {robot.driver_type!r}")
    options = DriverOptions(seed=seed, control_hz=args.hz, port=args.port, sim_cameras=cams, image_size=size,
                            cameras=not args.no_cameras, lerobot_calibration=calibration)
    try:
        return robot, build_driver(robot, options)
    except (ValueError, RuntimeError, OSError) as exc:  # config field, bus, camera, port: each says what to do
        raise RobotOpenError(str(exc)) from None


def cartesian_model(robot):
    """The kinematic model a gamepad or keyboard drives this robot through (None: the robot has none,
    only a leader arm can drive it). Built when a gamepad or keyboard first moves it, so a robot-side
    machine driven by a leader arm never needs MuJoCo."""
    if robot.kinematics is None:
        return None
    from teleop.cartesian import LazyArm

    return LazyArm(robot.kinematics, _arm_factory(robot))


def _arm_factory(robot):
    def build():
        from sim.arm_models import arm_model  # MuJoCo: only when Cartesian teleop is used

        try:
            return arm_model(robot.kinematics)
        except ValueError as exc:
            raise RobotOpenError(f"{robot.origin}: kinematics: {exc}") from None

    return build
