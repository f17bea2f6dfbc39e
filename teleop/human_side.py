"""Everything about the person in the loop, as the runtime sees it, behind one ``decide`` call.

A ``HumanInput`` turns whatever the person (or the sim's stand-in) did since the last tick into a
``HumanReading``; the ``HumanSide`` feeds it to the takeover gate with the policy's proposal and
the last command sent, and returns the gate's decision plus the episode events (success, failure,
discard, reset) for the runtime to act on. Real devices, the simulated supervisor and the scripted
demonstrator all plug in here, so the runtime runs the same code for each.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from hgdagger.common.types import Observation
from teleop.cartesian import CartesianMapper, Twist
from teleop.devices.leader_arm import misaligned_joints
from teleop.gate import GateOutput, HumanIntent, TakeoverGate
from teleop.intent import DeviceEvent, IntentMerger


@dataclass
class HumanReading:
    intent: HumanIntent
    episode_events: set[DeviceEvent] = field(default_factory=set)
    warnings: list[str] = field(default_factory=list)
    input_time: float | None = None  # when the input left the device (wall clock), for latency figures
    devices: list[str] = field(default_factory=list)  # the input devices connected now (for the console's hints)


class HumanInput(Protocol):
    def read(self, obs: Observation, policy_action: np.ndarray | None, gate_wants_human: bool) -> HumanReading: ...

    def reset(self, seed: int | None = None, drop_presses: bool = True) -> None: ...


class DeviceInput:
    """Real devices over ZeroMQ: a twist goes through Cartesian IK, a leader command passes through
    after the alignment check. The Cartesian target restarts at the arm's pose at every takeover."""

    def __init__(self, merger: IntentMerger, control_period: float, mapper: CartesianMapper | None,
                 leader_tolerance: float = 0.15):
        self.merger = merger
        self.mapper = mapper
        self.period = control_period
        self.leader_tolerance = leader_tolerance
        self._was_human = False

    def reset(self, seed: int | None = None, drop_presses: bool = True) -> None:
        """New episode: presses made between episodes (a label button held through the reset) are
        dropped, so they cannot end or toggle the new episode before it has begun — unless the
        operator has just started it (``drop_presses=False``): what they press after their start
        button is meant for this episode (a takeover right away)."""
        self._was_human = False
        if drop_presses:
            self.merger.poll()

    def read(self, obs, policy_action, gate_wants_human):
        merged = self.merger.poll()
        warnings = [f"{name} stale: no message for more than {self.merger.stale_after_s:.2f} s" for name in merged.stale_devices]
        warnings += [merged.statuses.get(name, f"{name} disconnected") for name in merged.disconnected_devices]
        toggled = DeviceEvent.TAKEOVER in merged.events
        becoming_human = gate_wants_human != toggled or merged.deadman
        if becoming_human and not self._was_human and self.mapper is not None:
            self.mapper.start_from(obs["joint_pos"], float(obs["gripper_pos"][0]))
        self._was_human = becoming_human
        command, aligned, misaligned = None, True, []
        if merged.command is not None and len(merged.command) != len(obs["joint_pos"]) + 1:
            warnings.append(f"leader arm sends {len(merged.command)} values, this arm takes {len(obs['joint_pos']) + 1}: "
                            "ignored (is it the leader for another arm?)")
        elif merged.command is not None:  # a leader arm: joint targets already
            command = merged.command
            misaligned = misaligned_joints(command, obs["joint_pos"], self.leader_tolerance)
            aligned = not misaligned
            if misaligned and becoming_human:
                warnings.append("leader arm off the follower at joints " + ", ".join(str(j + 1) for j in misaligned)
                                + ": move it to match before control passes")
        elif merged.twist is not None and self.mapper is None:
            warnings.append("this robot has no kinematic model: a gamepad or keyboard cannot drive it "
                            "(give its robot config a 'kinematics' model, or use a leader arm)")
        elif merged.twist is not None:
            twist = merged.twist
            gripper = None if np.isnan(twist[4]) else float(twist[4])
            try:
                command = self.mapper.step(Twist(linear=twist[:3], yaw=float(twist[3]), gripper=gripper),
                                           obs["joint_pos"], self.period)
            except ImportError as exc:  # a robot-side install without the kinematic model's MuJoCo
                warnings.append(f"a gamepad or keyboard needs this robot's kinematic model, which needs {exc.name}: "
                                "pip install 'hgdagger-stack[sim]' (a leader arm works without it)")
        intent = HumanIntent(toggle_pressed=toggled, deadman_held=merged.deadman, command=command, aligned=aligned)
        return HumanReading(intent, set(merged.events) - {DeviceEvent.TAKEOVER}, warnings, merged.send_time,
                            merged.connected_devices)


class ScriptedInput:
    """The sim's stand-in for a person: a simulated supervisor (hold-to-intervene) or, with
    ``always=True``, a demonstrator who drives every step (demonstration collection)."""

    def __init__(self, supervisor=None, expert=None, always: bool = False):
        if (supervisor is None) == (expert is None):
            raise ValueError("give exactly one of supervisor= or expert=")
        self.supervisor, self.expert, self.always = supervisor, expert, always

    def reset(self, seed: int | None = None, drop_presses: bool = True) -> None:
        (self.supervisor or self.expert).reset(seed)

    def read(self, obs, policy_action, gate_wants_human):
        now = time.time()
        if self.expert is not None:
            command = np.asarray(self.expert.act(obs), dtype=float)
            return HumanReading(HumanIntent(deadman_held=self.always, command=command), input_time=now)
        decision = self.supervisor.step(obs, policy_action)
        return HumanReading(HumanIntent(deadman_held=decision.wants_control, command=decision.command), input_time=now)


class FunctionInput:
    """A person simulated by a function ``(step, obs) -> command | None``: holds the dead-man
    trigger whenever it returns a command (scripts and tests)."""

    def __init__(self, fn):
        self.fn = fn
        self.step = 0

    def reset(self, seed: int | None = None, drop_presses: bool = True) -> None:
        self.step = 0

    def read(self, obs, policy_action, gate_wants_human):
        command = self.fn(self.step, obs)
        self.step += 1
        held = command is not None
        return HumanReading(HumanIntent(deadman_held=held, command=None if command is None else np.asarray(command, float)),
                            input_time=time.time())


class HumanSide:
    """The gate plus its input: one call per tick from the runtime."""

    def __init__(self, gate: TakeoverGate, source: HumanInput):
        self.gate = gate
        self.source = source
        self.last_reading: HumanReading | None = None

    def reset(self, seed: int | None = None, drop_presses: bool = True) -> None:
        self.gate.reset()
        self.source.reset(seed, drop_presses)

    def decide(self, obs: Observation, policy_action: np.ndarray | None, last_sent: np.ndarray) -> tuple[GateOutput, HumanReading]:
        reading = self.source.read(obs, policy_action, self.gate.human_wants)
        self.last_reading = reading
        return self.gate.step(reading.intent, policy_action, last_sent), reading
