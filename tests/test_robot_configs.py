"""Robot configs: the one place that says which robot a session drives. Names resolve, every mistake
is one line naming the file and the field, and a leader that does not fit its follower is refused
before anything connects."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hgdagger.robots.config import RobotConfigError, load_robot_config, robot_config_from_dict
from hgdagger.robots.leader import leader_arm_config
from hgdagger.robots.registry import builtin_robots, driver_types, resolve_robot

ROOT = Path(__file__).resolve().parents[1]
KOCH = json.loads((ROOT / "hgdagger/robots/builtin/koch.json").read_text())


def test_names_resolve_to_builtin_robots_sim_tasks_and_files(tmp_path):
    assert {"koch", "koch_twin"} <= set(builtin_robots())
    assert {"sim", "dynamixel", "dynamixel_twin"} <= set(driver_types())
    koch = resolve_robot("koch")
    assert koch.driver_type == "dynamixel" and koch.kinematics == "koch_v1_1" and [c["name"] for c in koch.cameras] == ["front", "wrist"]
    assert resolve_robot("pick_place").driver == {"type": "sim", "task": "pick_place"}
    assert resolve_robot("koch_reach").kinematics == "koch_v1_1"
    (tmp_path / "mine.json").write_text(json.dumps({**KOCH, "name": "lab_koch"}))
    assert resolve_robot(str(tmp_path / "mine.json")).name == "lab_koch"
    (tmp_path / "mine.toml").write_text('name = "t"\n[driver]\ntype = "sim"\ntask = "reach"\n')
    assert resolve_robot(str(tmp_path / "mine.toml")).driver["task"] == "reach"
    with pytest.raises(RobotConfigError, match="unknown robot 'kosh'.*koch, koch_twin.*pick_place"):
        resolve_robot("kosh")


@pytest.mark.parametrize("change, field", [
    (lambda r: r.pop("name"), "missing 'name'"),
    (lambda r: r.update(contol_hz=50), "unknown keys \\['contol_hz'\\]"),
    (lambda r: r.update(control_hz=0), "'control_hz' must be a number"),
    (lambda r: r["driver"].update(type="dynamixle"), "driver.type 'dynamixle' is not a known driver type"),
    (lambda r: r["driver"].update(baud=1), "driver: unknown keys \\['baud'\\] for type 'dynamixel'"),
    (lambda r: r.update(cameras=[{"name": "a"}, {"name": "a"}]), "unique non-empty 'name'"),
    (lambda r: r.update(leader={"arm": "koch_leader", "calibraton": "x"}), "leader: unknown keys \\['calibraton'\\]"),
    (lambda r: r.update(kinematics=3), "'kinematics' must be a model name"),
])
def test_each_mistake_is_one_error_naming_the_file_and_field(tmp_path, change, field):
    raw = json.loads(json.dumps(KOCH))
    change(raw)
    path = tmp_path / "robot.json"
    path.write_text(json.dumps(raw))
    with pytest.raises(RobotConfigError, match=field) as info:
        resolve_robot(str(path))
    assert str(path) in str(info.value)


def test_a_file_that_is_not_json_says_so(tmp_path):
    (tmp_path / "r.json").write_text("{name: koch")
    with pytest.raises(RobotConfigError, match="is not valid JSON"):
        load_robot_config(tmp_path / "r.json")


def test_a_leader_that_does_not_fit_its_follower_is_refused_with_both_joint_lists(tmp_path):
    leader = json.loads((ROOT / "teleop/dynamixel/arms/koch_leader.json").read_text())
    leader["joints"][2]["name"] = "elbow"
    (tmp_path / "leader.json").write_text(json.dumps(leader))
    (tmp_path / "robot.json").write_text(json.dumps({**KOCH, "leader": {"arm": "leader.json"}}))
    robot = resolve_robot(str(tmp_path / "robot.json"))
    with pytest.raises(RobotConfigError) as info:
        leader_arm_config(robot)
    message = str(info.value)
    assert "'elbow'" in message and "'elbow_flex'" in message and "joint by joint" in message
    out = subprocess.run([sys.executable, "-m", "hgdagger.cli.puppet", "--robot", str(tmp_path / "robot.json")],
                         cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert out.returncode == 2 and len(out.stderr.splitlines()) == 1 and "does not fit" in out.stderr


@pytest.mark.parametrize("command", [
    ["hgdagger.cli.run_robot", "--robot", "kosh"],
    ["hgdagger.cli.collect", "--robot", "kosh"],
    ["hgdagger.cli.rehearse", "--robot", "kosh"],
    ["hgdagger.cli.run_robot", "--robot", "koch", "--port", "/dev/ttyUSB77", "--no-cameras"],
    ["hgdagger.cli.run_robot", "--robot", "koch", "--cameras", "front"],
])
def test_session_commands_say_what_is_wrong_with_the_robot_in_one_line(command):
    out = subprocess.run([sys.executable, "-m", *command], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert out.returncode == 2 and "Traceback" not in out.stderr, out.stderr
    assert len(out.stderr.strip().splitlines()) == 1, out.stderr


json_values = st.recursive(st.none() | st.booleans() | st.floats(allow_nan=True) | st.integers() | st.text(max_size=8),
                           lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
                           max_leaves=10)


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.sampled_from(["name", "driver", "control_hz", "cameras", "kinematics", "leader", "task", "x"]),
                       json_values, max_size=7))
def test_any_parsed_document_is_a_config_or_one_robot_config_error(raw):
    try:
        robot = robot_config_from_dict(raw, "fuzz")
    except RobotConfigError:
        return
    assert robot.name and isinstance(robot.driver["type"], str)


def test_hgd_robots_lists_and_a_shown_config_is_a_valid_starting_point(tmp_path):
    listed = subprocess.run([sys.executable, "-m", "hgdagger.cli.robots"], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert listed.returncode == 0 and "koch_twin" in listed.stdout and "dynamixel_twin" in listed.stdout
    shown = subprocess.run([sys.executable, "-m", "hgdagger.cli.robots", "show", "koch", "--expand"], cwd=ROOT,
                           capture_output=True, text=True, timeout=60)
    (tmp_path / "lab_koch.json").write_text(shown.stdout)
    mine = resolve_robot(str(tmp_path / "lab_koch.json"))  # the copy a lab edits loads as it is
    assert mine.driver["follower"]["joints"][2]["name"] == "elbow_flex" and leader_arm_config(mine).name == "koch_leader"
