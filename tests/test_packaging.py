"""What installing the project puts on a machine: the card's packages and one of its own, commands
that start from any folder, and a robot side that imports without torch or MuJoCo."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())

# What a robot-side machine runs: client, runtime, drivers and their emulators, devices, recorder.
ROBOT_SIDE = [
    "policy_server.client", "teleop.runtime", "teleop.fetcher", "teleop.local_rollout", "teleop.human_side",
    "teleop.operator_setup", "teleop.dynamixel.follower", "teleop.dynamixel.dynamixel_leader", "teleop.dynamixel.emulator",
    "teleop.devices.keyboard", "teleop.record_sink", "recorder.recording_session", "recorder.thread_writer",
    "recorder.process", "recorder.recover", "recorder.run", "recorder.export", "recorder.replay", "recorder.aggregation",
    "hgdagger.cli.record", "hgdagger.cli.recover", "hgdagger.cli.inspect_run", "hgdagger.cli.export",
    "hgdagger.cli.teleop_device", "hgdagger.cli.leader_device", "hgdagger.cli.calibrate_leader", "hgdagger.cli.puppet",
    "hgdagger.cli.dxl_emulator", "hgdagger.cli.run_robot", "hgdagger.cli.collect", "hgdagger.cli.robots",
    "hgdagger.cli.robot_options", "hgdagger.robots.registry", "hgdagger.robots.leader", "hgdagger.robots.config",
]
HEAVY = ("torch", "mujoco", "gymnasium", "matplotlib")


def test_installed_top_level_packages_are_the_cards_and_the_projects_own():
    found = PYPROJECT["tool"]["setuptools"]["packages"]["find"]["include"]
    assert sorted(p.rstrip("*") for p in found) == ["hgdagger", "policy_server", "recorder", "sim", "teleop"]
    for name in ("common", "loop", "scripts", "benchmarks"):
        assert not (ROOT / name / "__init__.py").exists(), f"{name}/ would be a generic top-level package"


def test_every_command_entry_point_resolves_inside_the_installed_packages():
    import importlib

    for command, target in PYPROJECT["project"]["scripts"].items():
        module, _, func = target.partition(":")
        assert module.split(".")[0] in ("hgdagger", "policy_server", "recorder", "sim", "teleop"), command
        assert callable(getattr(importlib.import_module(module), func)), command


def _blocking(heavy: tuple[str, ...]) -> str:
    return (
        "import sys\n"
        "class Block:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        f"        if name.split('.')[0] in {heavy!r}:\n"
        "            raise ModuleNotFoundError(f'No module named {name!r}', name=name)\n"
        "sys.meta_path.insert(0, Block())\n"
    )


@pytest.mark.parametrize("module, argv, group", [
    ("hgdagger.cli.run_robot", ["--task", "reach", "--episodes", "1"], "sim"),
    ("hgdagger.cli.serve", ["--policy", "expert:reach"], "sim"),
    ("hgdagger.cli.train", ["--data", "x.hdf5"], "policy"),
])
def test_a_command_that_needs_a_missing_group_names_it_instead_of_a_traceback(module, argv, group):
    code = _blocking(HEAVY) + f"from {module} import main\nsys.exit(main({argv!r}))\n"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 2 and "Traceback" not in out.stderr, out.stderr[-2000:]
    assert f"pip install 'hgdagger-stack[{group}]'" in out.stderr


def test_robot_side_modules_import_without_torch_or_mujoco():
    """A robot-side install (pip install 'hgdagger-stack[robot]') has no torch, MuJoCo or gymnasium:
    every module it runs must import with those missing."""
    blocker = _blocking(HEAVY) + (
        "import importlib\n"
        f"for m in {ROBOT_SIDE!r}:\n"
        "    importlib.import_module(m)\n"
        f"print(sorted(k for k in sys.modules if k.split('.')[0] in {HEAVY!r}))\n"
    )
    out = subprocess.run([sys.executable, "-c", blocker], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.stdout.strip() == "[]"


@pytest.mark.parametrize("command", ["hgd-serve", "hgd-record", "hgd-loop"])
def test_commands_start_from_any_folder(tmp_path, command):
    exe = Path(sys.executable).with_name(command)
    out = subprocess.run([str(exe), "--help"], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and "usage" in out.stdout, out.stderr[-2000:]


def test_a_robot_side_machine_drives_a_real_arm_by_robot_config_without_torch_or_mujoco(tmp_path):
    """--robot koch on a machine with no torch, MuJoCo or gymnasium: the follower and leader (on the
    emulator) connect through the registry, the leader's fit is checked, and the runtime runs;
    Cartesian teleop's model is only built if a gamepad moves the arm."""
    from teleop.dynamixel.config import ArmConfig
    from teleop.dynamixel.emulator import PtyBus, chain_for

    with PtyBus(chain_for(ArmConfig.load("koch_follower"))) as follower, PtyBus(chain_for(ArmConfig.load("koch_leader"))) as leader:
        code = _blocking(HEAVY) + (
            "from hgdagger.cli.puppet import main\n"
            f"code = main(['--robot', 'koch', '--port', {follower.port!r}, '--leader-port', {leader.port!r}, '--seconds', '0.5'])\n"
            "from hgdagger.cli.run_robot import main as run\n"
            f"run(['--robot', 'koch', '--port', {follower.port!r}, '--no-cameras', '--takeover', 'devices', '--server',"
            f" 'ipc://{tmp_path}/nobody', '--connect-timeout', '0.5', '--intent-endpoint', 'ipc://{tmp_path}/intent'])\n"
            f"print(sorted(k for k in sys.modules if k.split('.')[0] in {HEAVY!r}))\n"
            "sys.exit(code)\n")
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-3000:]
    assert '"steps": 25' in out.stdout and "is `hgd-serve` running" in out.stderr, out.stdout + out.stderr
    assert out.stdout.strip().splitlines()[-1] == "[]"
