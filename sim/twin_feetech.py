"""The Feetech STS servo chain in front of a physics twin: the Feetech emulator's control tables
(``teleop.feetech.emulator``), answering the real ``feetech-servo-sdk`` byte for byte on a pty, with
MuJoCo moving the horns instead of each servo's first-order lag.

What the STS servo does and the twin must too: Present Position is the horn minus the Homing
Offset (so the driver's calibration reads the joint where the config says), Goal Position is
clipped to the Min/Max Position Limits in position mode (the follower writes its joint limits
there), velocity is in steps/s and Present Load in 0.1 % of the maximum torque.
"""

from __future__ import annotations

import numpy as np

from sim.twin import PhysicsTwin
from teleop.feetech import control_table as ct
from teleop.feetech.emulator import EmulatedServo, Faults, ServoChain
from teleop.feetech.protocol import Instruction, Packet


class FeetechTwinServo(EmulatedServo):
    """An STS servo whose horn is the twin's joint (its own first-order motion is unused)."""

    def update(self, now: float) -> None:
        pass

    def goal(self) -> int:
        """Goal Position as the servo acts on it: inside its position limits in position mode."""
        goal = self.get(ct.GOAL_POSITION)
        lo, hi = self.get(ct.MIN_POSITION_LIMIT), self.get(ct.MAX_POSITION_LIMIT)
        if self.get(ct.OPERATING_MODE) == ct.MODE_POSITION and lo < hi:
            goal = min(max(goal, lo), hi)
        return goal


class FeetechTwinChain(ServoChain):
    """The STS servo chain of ``twin.arm`` answering over a pty, with the twin's physics behind it."""

    def __init__(self, twin: PhysicsTwin, faults: Faults | None = None):
        models = twin.arm.models()
        servos = [FeetechTwinServo(i, models[i], int(t)) for i, t in zip(twin.ids, twin.ticks())]
        super().__init__(servos, faults)  # RAM cleared at power-up: torque off until the driver enables it
        self.twin = twin

    def handle(self, packet: Packet, now: float) -> bytes:
        twin = self.twin
        with twin.lock:
            if twin.clock == "wall":
                twin.advance_to(now)
            self._publish_present()
            reply = super().handle(packet, now)
            servos = [self.servos[i] for i in twin.ids]
            twin.set_goals(np.array([s.goal() for s in servos]), np.array([bool(s.get(ct.TORQUE_ENABLE)) for s in servos]))
            if twin.clock == "commands" and _writes_goals(packet):
                twin.advance(twin.period)
        return reply

    def _publish_present(self) -> None:
        twin = self.twin
        ticks = twin.ticks()
        steps_per_rad = np.array([self.servos[i].model.resolution for i in twin.ids]) / (2 * np.pi)
        velocity = twin.servo_velocities() * steps_per_rad
        load = np.clip(np.rint(twin.servo_efforts() * 1000.0), -1000, 1000).astype(int)
        for k, i in enumerate(twin.ids):
            s = self.servos[i]
            s.actual = float(ticks[k] + s.get(ct.HOMING_OFFSET))  # the horn, so that present() reads the twin
            s.velocity = float(velocity[k])
            s.put(ct.PRESENT_POSITION, round(s.present()) % s.model.resolution)
            s.put(ct.PRESENT_VELOCITY, int(np.clip(round(velocity[k]), -32767, 32767)))
            s.put(ct.PRESENT_LOAD, int(load[k]) if s.get(ct.TORQUE_ENABLE) else 0)
            s.put(ct.PRESENT_CURRENT, abs(int(load[k])) // 4 if s.get(ct.TORQUE_ENABLE) else 0)
            s.put(ct.MOVING, int(abs(velocity[k]) > 20))

    def sync_goals_to_present(self) -> None:
        """After a teleport: every goal where the joint now is (so torque-on does not yank it back)."""
        with self.twin.lock:
            self._publish_present()
            for i in self.twin.ids:
                self.servos[i].put(ct.GOAL_POSITION, self.servos[i].get(ct.PRESENT_POSITION))


def _writes_goals(packet: Packet) -> bool:
    """A control step's command: a sync write of Goal Position (STS: a 1-byte address)."""
    return packet.instruction == Instruction.SYNC_WRITE and len(packet.params) >= 1 and \
        packet.params[0] == ct.GOAL_POSITION.address
