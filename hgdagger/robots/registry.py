"""Driver types to constructors, and robot names to configs. No command builds a driver by hand:
it resolves ``--robot NAME_OR_PATH`` here and asks the registry for a connected driver.

A robot name is, in this order: a path to a robot config file; a built-in robot
(``hgdagger/robots/builtin/<name>.json``); a sim task (the simulated arm doing that task, or a
plugged-in gymnasium environment). Adding a driver type is one ``register_driver_type`` call.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Callable

from hgdagger.common.types import RobotDriver
from hgdagger.robots.config import RobotConfig, RobotConfigError, load_robot_config


@dataclass(frozen=True)
class DriverOptions:
    """What a session may override at the command line; None keeps the robot config's value."""

    seed: int | None = 0
    control_hz: float | None = None
    port: str | None = None  # a real arm's serial port
    sim_cameras: tuple[str, ...] | None = None  # sim robots: rendered views to observe
    image_size: tuple[int, int] = (128, 128)
    cameras: bool = True  # False: leave a real arm's cameras closed (puppeteering, rehearsal on an emulator)
    lerobot_calibration: str | None = None  # a real arm's LeRobot calibration file, overriding its arm config's


@dataclass(frozen=True)
class DriverType:
    name: str
    build: Callable[[RobotConfig, DriverOptions], RobotDriver]
    settings: frozenset[str]  # the keys its "driver" table may hold besides "type"
    description: str
    extra: str = "robot"  # the install extra its code needs (for the missing-extra hint)
    simulated: bool = False  # episodes can be reset and re-seeded (a sim task), no hardware touched
    help: dict[str, str] = field(default_factory=dict)


_DRIVER_TYPES: dict[str, DriverType] = {}


def register_driver_type(kind: DriverType) -> None:
    _DRIVER_TYPES[kind.name] = kind


def driver_types() -> list[str]:
    return sorted(_DRIVER_TYPES)


def driver_type_descriptions() -> dict[str, str]:
    return {name: _DRIVER_TYPES[name].description for name in driver_types()}


def driver_type(robot: RobotConfig) -> DriverType:
    try:
        kind = _DRIVER_TYPES[robot.driver_type]
    except KeyError:
        raise RobotConfigError(f"{robot.origin or robot.name}: driver.type {robot.driver_type!r} is not a known driver "
                               f"type; known: {', '.join(driver_types())}") from None
    unknown = sorted(set(robot.driver) - {"type"} - kind.settings)
    if unknown:
        raise RobotConfigError(f"{robot.origin or robot.name}: driver: unknown keys {unknown} for type {kind.name!r} "
                               f"(known: {sorted(kind.settings)})")
    return kind


def build_driver(robot: RobotConfig, options: DriverOptions = DriverOptions()) -> RobotDriver:
    """A connected driver for ``robot`` (raises RobotConfigError, or the driver's own error that says
    what is wrong with the hardware: port, permission, servo not answering)."""
    return driver_type(robot).build(robot, options)


# ---------------------------------------------------------------------------------------- names
def builtin_robots() -> list[str]:
    folder = resources.files("hgdagger.robots").joinpath("builtin")
    return sorted(Path(str(p.name)).stem for p in folder.iterdir() if p.name.endswith((".json", ".toml")))


def sim_robot(task: str) -> RobotConfig:
    """A sim task as a named robot: the simulated arm (or a plugged-in environment) doing it."""
    from sim.registry import get_task

    return RobotConfig(name=task, driver={"type": "sim", "task": task}, kinematics=get_task(task).kinematics, task=task,
                       origin=f"sim task {task}")


def resolve_robot(name_or_path: str) -> RobotConfig:
    """``--robot``'s value to a validated RobotConfig; an unknown name lists the known ones."""
    path = Path(name_or_path).expanduser()
    if path.suffix in (".json", ".toml") or "/" in name_or_path:
        if not path.exists():
            raise RobotConfigError(f"robot config {name_or_path} does not exist")
        robot = load_robot_config(path)
    elif name_or_path in builtin_robots():
        folder = resources.files("hgdagger.robots").joinpath("builtin")
        file = next(p for p in folder.iterdir() if Path(p.name).stem == name_or_path)
        robot = load_robot_config(Path(str(file)))
    else:
        import sim

        if name_or_path not in sim.task_names():
            raise RobotConfigError(f"unknown robot {name_or_path!r}: give a robot config file, a built-in robot "
                                   f"({', '.join(builtin_robots())}) or a sim task ({', '.join(sim.task_names())})")
        robot = sim_robot(name_or_path)
    driver_type(robot)  # the driver table is checked now, before anything connects
    return robot


def is_simulated(robot: RobotConfig) -> bool:
    return driver_type(robot).simulated


def episode_env_args(robot: RobotConfig, seed: int | None) -> dict[str, Any]:
    """What an episode file says about where it was recorded (replay and export read it)."""
    if robot.driver_type == "sim":
        return {"type": "hgd_sim", "task": robot.driver["task"], "seed": seed}
    return {"type": "robot", "robot": robot.name, "driver": robot.driver_type} | (
        {"seed": seed} if is_simulated(robot) else {})  # a twin re-creates its scene from the seed


# ---------------------------------------------------------------------------------------- types
def _build_sim(robot: RobotConfig, options: DriverOptions) -> RobotDriver:
    from sim.registry import make_driver

    cameras = options.sim_cameras if options.sim_cameras is not None else tuple(c["name"] for c in robot.cameras)
    return make_driver(robot.driver["task"], seed=options.seed, control_hz=options.control_hz or robot.control_hz or 20.0,
                       cameras=tuple(cameras), image_size=options.image_size)


def camera_configs(robot: RobotConfig, options: DriverOptions) -> list:
    """The robot's cameras as teleop.cameras.CameraConfig (none when they are switched off)."""
    if not options.cameras:
        return []
    from dataclasses import fields as dc_fields

    from teleop.cameras import CameraConfig

    known = {f.name for f in dc_fields(CameraConfig)}
    configs = []
    for i, raw in enumerate(robot.cameras):
        if unknown := sorted(set(raw) - known):
            raise RobotConfigError(f"{robot.origin}: cameras[{i}]: unknown keys {unknown} (known: {sorted(known)})")
        try:
            configs.append(CameraConfig(**raw))
        except TypeError as exc:
            raise RobotConfigError(f"{robot.origin}: cameras[{i}]: {exc}") from None
    return configs


def camera_set(robot: RobotConfig, options: DriverOptions):
    """The robot's cameras, each on its own capture thread (None when it has none or they are off)."""
    configs = camera_configs(robot, options)
    if not configs:
        return None
    from teleop.cameras import CameraSet

    return CameraSet(configs)


def follower_arm_config(robot: RobotConfig, options: DriverOptions):
    """The follower's ArmConfig from the driver table (inline, or a file relative to the robot config)."""
    arm = robot.load_arm(robot.driver.get("follower"), "driver.follower")
    if options.port:
        arm.bus.port = options.port
    if options.lerobot_calibration:
        from teleop import lerobot_calibration

        arm.lerobot_calibration = options.lerobot_calibration
        lerobot_calibration.apply(arm, lerobot_calibration.read(options.lerobot_calibration), options.lerobot_calibration)
    hz = options.control_hz or robot.control_hz
    if hz:
        arm.control_hz = hz
    return arm


def _build_arm(robot: RobotConfig, options: DriverOptions) -> RobotDriver:
    """A serial-bus follower (Dynamixel, Feetech): the arm file's protocol picks the driver class."""
    from hgdagger.robots import arms

    arm = follower_arm_config(robot, options)
    if (speaks := arms.protocol_of(arm).name) != robot.driver_type:
        raise RobotConfigError(f"{robot.origin or robot.name}: driver.type is {robot.driver_type!r} but its follower "
                               f"{arm.name} is a {speaks} arm: set driver.type to {speaks!r}")
    cameras = camera_set(robot, options)
    try:
        return arms.follower(arm, cameras=cameras)
    except Exception:
        if cameras is not None:
            cameras.close()
        raise


def _build_twin(robot: RobotConfig, options: DriverOptions) -> RobotDriver:
    """A follower arm's physics twin: ``<protocol>_twin``, its follower an arm file of that protocol."""
    from hgdagger.robots import arms
    from sim.twin_robot import open_twin

    clock = robot.driver.get("clock", "wall")
    if clock not in ("wall", "commands"):
        raise RobotConfigError(f"{robot.origin}: driver.clock must be 'wall' (live sessions) or 'commands' "
                               f"(one control period per command), got {clock!r}")
    arm = follower_arm_config(robot, options)
    if (speaks := arms.protocol_of(arm).name) != robot.driver_type.removesuffix("_twin"):
        raise RobotConfigError(f"{robot.origin or robot.name}: driver.type is {robot.driver_type!r} but its follower "
                               f"{arm.name} is a {speaks} arm: set driver.type to '{speaks}_twin'")
    return open_twin(arm, str(robot.driver.get("model", "koch_v1_1")), robot.driver.get("task"), clock=clock,
                     seed=options.seed, cameras=camera_configs(robot, options))


register_driver_type(DriverType(
    "sim", _build_sim, frozenset({"task"}), "the simulated arm doing a task, or a plugged-in gymnasium environment",
    extra="sim", simulated=True))
register_driver_type(DriverType(
    "dynamixel", _build_arm, frozenset({"follower"}),
    "a Dynamixel follower arm (Koch, and other X-series arms) on a serial port"))
register_driver_type(DriverType(
    "feetech", _build_arm, frozenset({"follower"}),
    "a Feetech follower arm (SO-100/SO-101, STS3215 servos) on a serial port"))
register_driver_type(DriverType(
    "dynamixel_twin", _build_twin, frozenset({"follower", "model", "task", "clock"}),
    "a Dynamixel follower arm's physics twin: the real driver over a pty to MuJoCo physics of the same arm",
    extra="sim", simulated=True))
register_driver_type(DriverType(
    "feetech_twin", _build_twin, frozenset({"follower", "model", "task", "clock"}),
    "a Feetech follower arm's physics twin (SO-101): the real driver over a pty to MuJoCo physics of the same arm",
    extra="sim", simulated=True))
