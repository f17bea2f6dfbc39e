"""A physics twin of a serial-bus arm: the servo emulator's registers backed by MuJoCo.

The follower driver talks to it over a pseudo-terminal exactly as to the real arm (the same bytes,
the same vendor SDK); behind the pty, Goal Position drives the model's position actuators, and
Present Position, Velocity and Current (or Load) are read off the physics. Torque off lets the joint
go limp. Its clock is either the wall clock (physics catches up to real time at every packet: a
live session) or the commands (each goal write advances exactly one control period: an unattended
loop runs as fast as the CPU allows and is reproducible).

``PhysicsTwin`` is the servo family's business only in ticks, which both families map the same way
(``teleop.dynamixel.calibration``). What differs per family (the control table, velocity and load
units, the packet framing) lives in its servo chain: ``TwinServoChain`` here for Dynamixel
Protocol 2.0, ``sim.twin_feetech`` for Feetech STS. ``TWIN_BUSES`` maps an arm file's protocol to
its chain and pty server.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable
from dataclasses import dataclass

import mujoco
import numpy as np

from teleop.dynamixel import control_table as ct
from teleop.dynamixel.calibration import rad_to_ticks, ticks_to_rad
from teleop.dynamixel.config import ArmConfig
from teleop.dynamixel.emulator import EmulatedServo, ServoChain
from teleop.dynamixel.protocol import Instruction, Packet, from_le

MAX_CATCH_UP_S = 0.1  # wall clock: after a silence, simulate at most this much at once (no long stall)


class PhysicsTwin:
    """MuJoCo state of one arm and its scene, stepped under a lock (the emulator thread steps it,
    camera threads render it)."""

    def __init__(self, model: mujoco.MjModel, arm: ArmConfig, clock: str = "wall"):
        if clock not in ("wall", "commands"):
            raise ValueError(f"clock must be 'wall' or 'commands', got {clock!r}")
        self.model, self.arm, self.clock = model, arm, clock
        self.data = mujoco.MjData(model)
        self.lock = threading.RLock()
        self.period = 1.0 / arm.control_hz
        names = [j.name for j in arm.joints] + (["gripper"] if arm.gripper else [])
        self.qpos_adr = np.array([model.jnt_qposadr[model.joint(n).id] for n in names])
        self.dof_adr = np.array([model.jnt_dofadr[model.joint(n).id] for n in names])
        self.actuators = np.array([model.actuator(n).id for n in names])
        lo, hi = model.jnt_range[[model.joint(n).id for n in names]].T
        self.grip_open, self.grip_closed = (float(lo[-1]), float(hi[-1])) if arm.gripper else (0.0, 0.0)
        self._gains = model.actuator_gainprm[self.actuators, 0].copy()
        self._bias = model.actuator_biasprm[self.actuators, :3].copy()
        self.torque = np.ones(len(names), bool)
        self._sim_time_at = None  # wall time the physics was last brought up to
        self._owed = 0.0  # s asked of advance() not yet simulated (less than half a physics step)
        self.maps = arm.joint_maps()
        self.gripper_map = arm.gripper_map()
        self.ids = arm.ids
        mujoco.mj_forward(model, self.data)

    # ------------------------------------------------------------------ units
    def joint_angles(self) -> np.ndarray:
        """Arm joints (rad, the config's convention) and the gripper (0 open .. 1 closed)."""
        q = self.data.qpos[self.qpos_adr].copy()
        if self.arm.gripper:
            q[-1] = (q[-1] - self.grip_open) / (self.grip_closed - self.grip_open)
        return q

    def ticks(self) -> np.ndarray:
        q = self.joint_angles()
        n = len(self.arm.joints)
        out = rad_to_ticks(q[:n], self.maps)
        if self.arm.gripper:
            out = np.append(out, self.gripper_map.to_ticks(float(np.clip(q[-1], 0.0, 1.0))))
        return out

    def servo_velocities(self) -> np.ndarray:
        """Each servo's speed (rad/s) in its own sign; the gripper's 0 (nobody reads it)."""
        n = len(self.arm.joints)
        signs = np.array([m.sign for m in self.maps] + ([0.0] if self.arm.gripper else []))
        return signs * self.data.qvel[self.dof_adr][: n + (1 if self.arm.gripper else 0)]

    def servo_efforts(self) -> np.ndarray:
        """Each actuator's force (N m) as a fraction of its force range, in its servo's sign."""
        force = self.data.actuator_force[self.actuators]
        limit = np.abs(self.model.actuator_forcerange[self.actuators]).max(axis=1)
        signs = np.array([m.sign for m in self.maps] + ([1.0] if self.arm.gripper else []))
        return signs * force / np.where(limit > 0, limit, 1.0)

    def velocity_units(self) -> np.ndarray:
        """Present Velocity (Dynamixel: 0.229 rpm units) in each servo's own sign."""
        rpm = self.servo_velocities() * 60.0 / (2 * math.pi)
        return np.rint(rpm / ct.VELOCITY_UNIT_RPM).astype(np.int64)

    def set_goals(self, ticks: np.ndarray, torque: np.ndarray) -> None:
        """Goal Position registers -> actuator targets; a servo with torque off goes limp."""
        n = len(self.arm.joints)
        ctrl = ticks_to_rad(np.asarray(ticks[:n]), self.maps)
        if self.arm.gripper:
            unit = float(np.clip(self.gripper_map.to_unit(int(ticks[n])), 0.0, 1.0))
            ctrl = np.append(ctrl, self.grip_open + unit * (self.grip_closed - self.grip_open))
        self.data.ctrl[self.actuators] = ctrl
        if not np.array_equal(torque, self.torque):
            self.torque = torque.copy()
            self.model.actuator_gainprm[self.actuators, 0] = np.where(torque, self._gains, 0.0)
            self.model.actuator_biasprm[self.actuators, :3] = np.where(torque[:, None], self._bias, 0.0)

    # ------------------------------------------------------------------ time
    def advance(self, seconds: float) -> None:
        """Simulate ``seconds`` more, in whole physics steps; what a step does not divide is carried to
        the next call, so physics time keeps to the clock (a 30 Hz period is 16.7 steps of 2 ms)."""
        self._owed += seconds
        steps = round(self._owed / self.model.opt.timestep)
        if steps > 0:
            mujoco.mj_step(self.model, self.data, nstep=steps)
            self._owed -= steps * self.model.opt.timestep

    def advance_to(self, now: float) -> None:
        """Wall clock: simulate up to ``now`` (at most MAX_CATCH_UP_S at once)."""
        if self._sim_time_at is None:
            self._sim_time_at = now
            return
        lag = min(now - self._sim_time_at, MAX_CATCH_UP_S)
        if lag >= self.model.opt.timestep:
            self.advance(lag)
            self._sim_time_at = now

    def camera(self, name: str, height: int, width: int) -> "TwinCamera":
        """A frame source for ``teleop.cameras.CameraStream(render=...)``: the named MuJoCo camera."""
        if mujoco.mj_name2id(self.model, mujoco.mjtObj.mjOBJ_CAMERA, name) < 0:
            cameras = [self.model.camera(i).name for i in range(self.model.ncam)]
            raise ValueError(f"the twin has no camera {name!r}; it has {', '.join(cameras)}")
        return TwinCamera(self, name, height, width)

    def place_arm(self, q: np.ndarray) -> None:
        """Teleport the arm (joints rad + gripper 0..1) and hold it there: a person resetting the scene."""
        q = np.asarray(q, np.float64)
        qpos = q.copy()
        if self.arm.gripper:
            qpos[-1] = self.grip_open + q[-1] * (self.grip_closed - self.grip_open)
        self.data.qpos[self.qpos_adr] = qpos
        self.data.qvel[self.dof_adr] = 0.0
        self.data.ctrl[self.actuators] = qpos
        mujoco.mj_forward(self.model, self.data)


class TwinCamera:
    """Renders one camera of the twin on the calling (capture) thread, from a snapshot taken under
    the lock, so rendering never holds up the servo bus. The GL context belongs to that thread:
    it is made on the first frame and closed there too (CameraStream calls ``close`` on exit)."""

    def __init__(self, twin: PhysicsTwin, name: str, height: int, width: int):
        from sim.rendering import select_gl_backend

        select_gl_backend()
        self.twin, self.name, self.height, self.width = twin, name, height, width
        self.snapshot = mujoco.MjData(twin.model)
        self.renderer = None

    def __call__(self) -> np.ndarray:
        from sim.rendering import CameraRenderer

        if self.renderer is None:
            self.renderer = CameraRenderer(self.twin.model, self.height, self.width)
        with self.twin.lock:
            mujoco.mj_copyData(self.snapshot, self.twin.model, self.twin.data)
        return self.renderer.render(self.snapshot, self.name)

    def close(self) -> None:
        if self.renderer is not None:
            self.renderer.close()
            self.renderer = None


class TwinServo(EmulatedServo):
    """A servo whose Present registers come from the twin (its own first-order motion is unused)."""

    def update(self, now: float) -> None:
        pass


class TwinServoChain(ServoChain):
    """The Dynamixel servo chain of ``twin.arm`` answering over a pty, with the twin's physics behind it."""

    def __init__(self, twin: PhysicsTwin, faults=None):
        models = twin.arm.models()
        start = twin.ticks()
        super().__init__([TwinServo(i, models[i], int(t)) for i, t in zip(twin.ids, start)], faults)
        self.twin = twin
        for servo in self.servos.values():
            servo.table[ct.TORQUE_ENABLE.address] = 0  # as a real servo powers up; the driver enables torque

    def handle(self, packet: Packet, now: float) -> bytes:
        twin = self.twin
        with twin.lock:
            if twin.clock == "wall":
                twin.advance_to(now)
            self._publish_present()
            reply = super().handle(packet, now)
            goals = np.array([self.servos[i].get(ct.GOAL_POSITION) for i in twin.ids])
            torque = np.array([bool(self.servos[i].get(ct.TORQUE_ENABLE)) for i in twin.ids])
            twin.set_goals(goals, torque)
            if twin.clock == "commands" and _writes_goals(packet):
                twin.advance(twin.period)
        return reply

    def _publish_present(self) -> None:
        twin = self.twin
        ticks, vel = twin.ticks(), twin.velocity_units()
        force = twin.data.actuator_force[twin.actuators]
        for k, i in enumerate(twin.ids):
            s = self.servos[i]
            s._put(ct.PRESENT_POSITION, int(ticks[k]))
            s._put(ct.PRESENT_VELOCITY, int(vel[k]))
            s._put(ct.PRESENT_CURRENT, int(np.clip(force[k] * 1000.0, -2000, 2000)))  # ~mA per N m (order only)
            s._put(ct.MOVING, int(abs(vel[k]) > 2))

    def sync_goals_to_present(self) -> None:
        """After a teleport: every goal where the joint now is (so torque-on does not yank it back)."""
        with self.twin.lock:
            for i, t in zip(self.twin.ids, self.twin.ticks()):
                self.servos[i]._put(ct.GOAL_POSITION, int(t))


def _writes_goals(packet: Packet) -> bool:
    """A control step's command: a sync write of Goal Position (Protocol 2.0: a 2-byte address)."""
    if packet.instruction != Instruction.SYNC_WRITE or len(packet.params) < 2:
        return False
    return from_le(packet.params[0:2]) == ct.GOAL_POSITION.address


@dataclass(frozen=True)
class TwinBus:
    """How one servo family's registers are put in front of the twin."""

    chain: Callable[..., object]  # (twin, faults=None) -> a chain with handle() and sync_goals_to_present()
    pty: Callable[..., object]  # (chain, link=None, ...) -> a pty server speaking the family's framing
    follower: Callable[..., object]  # (arm, cameras=None) -> the family's real follower driver, connected


def _dynamixel_bus() -> TwinBus:
    from teleop.dynamixel.emulator import PtyBus
    from teleop.dynamixel.follower import DynamixelFollower

    return TwinBus(TwinServoChain, PtyBus, DynamixelFollower)


def _feetech_bus() -> TwinBus:
    from sim.twin_feetech import FeetechTwinChain
    from teleop.feetech.emulator import PtyBus
    from teleop.feetech.follower import FeetechFollower

    return TwinBus(FeetechTwinChain, PtyBus, FeetechFollower)


TWIN_BUSES: dict[str, Callable[[], TwinBus]] = {"dynamixel": _dynamixel_bus, "feetech": _feetech_bus}


def twin_bus(arm: ArmConfig) -> TwinBus:
    """The chain and pty server for ``arm``'s servo family (its arm file's protocol)."""
    name = type(arm).PROTOCOL
    if name not in TWIN_BUSES:
        raise ValueError(f"arm {arm.name}: no physics twin speaks {name!r}; twins speak {', '.join(TWIN_BUSES)}")
    return TWIN_BUSES[name]()
