"""The SO-101 twin's world: the arm of ``assets/so101.xml`` on a table, lit, with a front camera and
optionally a small cube, and the facts tasks and teleop need. ``SO101_SCENE`` is its ``ArmScene``."""

from __future__ import annotations

import numpy as np

from sim.arm_scene import ArmScene

SO101_JOINTS: tuple[str, ...] = ("shoulder_pan", "shoulder_lift", "elbow_flex", "wrist_flex", "wrist_roll")
SO101_MAX_JOINT_VELOCITY = 3.0  # rad/s: the slowest joint's max_velocity in teleop/feetech/arms/so101_follower.json

# Parked: upper arm tilted back, forearm folded past level, gripper 38 degrees off pointing down and
# raised (tcp at x 0.17, z 0.13; lowest point 11 cm up). The 16 cm gripper cannot be tucked in front
# of the base as the Koch's is: hanging down from there it reaches the table.
SO101_REST = np.array([0.0, -1.0, 0.6, 1.3, 0.0])

# Where the tcp reaches with the gripper pointing straight down (m): everywhere in the box the elbow
# stays bent by 0.8 rad or more and every joint 0.1 rad or more inside its limits. wrist_flex's
# +-1.658 binds on every side but the far one (the stretched arm): pointing down with a 16 cm hand
# is a band from 7 to 25 cm out at the table, 13 to 20 cm at 7 cm up. At z = 0.02 the jaw tips are
# 9 mm above the table.
SO101_WORKSPACE: tuple[tuple[float, float, float], tuple[float, float, float]] = ((0.13, -0.06, 0.02),
                                                                                  (0.19, 0.06, 0.07))
# Cube centre (x, y) on the table: inside the workspace, so the gripper can hover over it and come
# down on it pointing down.
SO101_CUBE_REGION: tuple[tuple[float, float], tuple[float, float]] = ((0.14, -0.05), (0.18, 0.05))

SO101_SCENE = ArmScene(
    name="so101", asset="so101.xml", joints=SO101_JOINTS, rest=tuple(SO101_REST), workspace=SO101_WORKSPACE,
    cube_region=SO101_CUBE_REGION, cube_start=(0.2, 0.0), max_joint_velocity=SO101_MAX_JOINT_VELOCITY,
    front_camera='pos="0.62 0 0.40" xyaxes="0 1 0 -0.53 0 0.848" fovy="55"', table_x=0.2, table_half=0.45)
