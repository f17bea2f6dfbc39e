"""Ticks <-> radians, gripper maps, arm configs and the digital-twin joint mapping."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from teleop.dynamixel.calibration import (GripperMap, JointMap, offset_to_nearest_quarter, rad_to_ticks, ticks_to_rad,
                                          velocity_units_to_rad_s)
from teleop.dynamixel.config import ARMS, ArmConfig, shipped_arms

maps_st = st.lists(st.builds(JointMap, sign=st.sampled_from([1.0, -1.0]), offset_quarter_turns=st.integers(-4, 4)),
                   min_size=1, max_size=7)


def test_known_values():
    m = [JointMap(), JointMap(-1.0), JointMap(1.0, 1)]
    assert np.allclose(ticks_to_rad([2048, 2048, 2048], m), [0, 0, np.pi / 2])
    assert np.allclose(ticks_to_rad([3072, 3072, 1024], m), [np.pi / 2, -np.pi / 2, 0])
    assert list(rad_to_ticks([np.pi, -np.pi / 2, np.pi / 2], m)) == [4096, 3072, 2048]


@given(maps_st, st.data())
def test_ticks_round_trip_exactly(maps, data):
    ticks = np.array(data.draw(st.lists(st.integers(-8192, 12288), min_size=len(maps), max_size=len(maps))))
    assert np.array_equal(rad_to_ticks(ticks_to_rad(ticks, maps), maps), ticks)


@given(maps_st, st.data())
def test_radians_round_trip_within_half_a_tick(maps, data):
    q = np.array(data.draw(st.lists(st.floats(-6, 6), min_size=len(maps), max_size=len(maps))))
    back = ticks_to_rad(rad_to_ticks(q, maps), maps)
    assert np.all(np.abs(back - q) <= np.pi / 4096 + 1e-12)


@given(st.floats(-3, 3), st.floats(-3, 3), st.sampled_from([1.0, -1.0]))
def test_quarter_offset_brings_the_reading_within_45_degrees(measured, wanted, sign):
    k = offset_to_nearest_quarter(measured, wanted, sign)
    assert abs(sign * measured + k * np.pi / 2 - wanted) <= np.pi / 4 + 1e-9


@given(st.integers(0, 4095), st.integers(0, 4095), st.floats(0, 1))
def test_gripper_map_round_trips_and_clips(a, b, closed):
    if a == b:
        return
    g = GripperMap(a, b)
    assert abs(g.to_unit(g.to_ticks(closed)) - closed) <= 1.0 / abs(b - a)
    assert g.to_unit(a - 1000 * np.sign(b - a)) == 0.0 and g.to_ticks(2.0) == b


def test_velocity_units():
    assert np.allclose(velocity_units_to_rad_s([100, 100], [1, -1]), [2.398, -2.398], atol=1e-3)


def test_shipped_arms_load_by_name_and_state_their_own_joint_count():
    assert {"koch_follower", "koch_leader"} <= set(shipped_arms())
    f = ArmConfig.load("koch_follower")
    assert f.robot_spec().action_dim == 6 and f.ids == [1, 2, 3, 4, 5, 6]
    assert f.robot_spec().joint_names == ("shoulder_pan", "shoulder_lift", "elbow_flex", "wrist_flex", "wrist_roll")
    assert not ArmConfig.load("koch_leader").torque_on_connect


def test_config_errors_say_what_is_wrong(tmp_path):
    base = json.loads((ARMS / "koch_follower.json").read_text())
    cases = {
        "typo": ({**base, "contorl_hz": 30}, "unknown keys"),
        "dup": ({**base, "gripper": {**base["gripper"], "id": 1}}, "repeat"),
        "panda mapping": ({**base, "joints": [{**base["joints"][0], "sim_joint": "joint1"}]}, "sim_joint"),
        "model": ({**base, "joints": [{**base["joints"][0], "model": "AX-12"}]}, "unknown Dynamixel model"),
    }
    for name, (raw, message) in cases.items():
        path = tmp_path / f"{name}.json"
        path.write_text(json.dumps(raw))
        with pytest.raises(ValueError, match=message):
            ArmConfig.load(path)
    with pytest.raises(ValueError, match="does not exist; shipped arms: koch_follower, koch_leader"):
        ArmConfig.load(tmp_path / "nope.json")
    with pytest.raises(ValueError, match="does not exist"):
        ArmConfig.load("koch_folower")


def test_toml_config(tmp_path):
    (tmp_path / "a.toml").write_text('name = "t"\ncontrol_hz = 30.0\n[bus]\nport = "/dev/x"\n'
                                     '[[joints]]\nname = "a"\nid = 1\n[[joints]]\nname = "b"\nid = 2\n')
    cfg = ArmConfig.load(tmp_path / "a.toml")
    assert cfg.ids == [1, 2] and cfg.robot_spec().control_period == pytest.approx(1 / 30)
