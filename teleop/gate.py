"""The takeover gate: the runtime's single owner of who is in control.

Input devices only send intent (toggle pressed, dead-man held, a command, whether a leader arm is
aligned); once per tick the control loop hands the gate that intent with the policy's proposal and
the last command actually sent, and the gate answers with the command to send and its source.
No clocks, no sockets, no sleeps: every ramp is counted in control steps inside the loop.

Phases: POLICY -> TO_HUMAN -> HUMAN -> TO_POLICY -> POLICY.
- Taking over drops the policy's queued actions at once (event TAKEOVER). A gamepad starts from the
  arm's current pose, so its ramp is short; a leader arm must first come within tolerance of the
  follower (the arm holds meanwhile), then the gap is closed by a ramp.
- Handing back asks for a fresh chunk from the current state (event HANDBACK); the arm holds the
  last human command until it arrives, then ramps from there into the policy's actions.
Whatever the gate says, the safety filter still bounds every step.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

import numpy as np

from hgdagger.common.types import Source


class TakeoverMode(str, enum.Enum):
    TOGGLE = "toggle"  # press to take over, press again to hand back
    DEADMAN = "deadman"  # hold to intervene, release to hand back


class GatePhase(str, enum.Enum):
    POLICY = "policy"
    TO_HUMAN = "to_human"
    HUMAN = "human"
    TO_POLICY = "to_policy"


class GateEvent(str, enum.Enum):
    TAKEOVER = "takeover"  # drop queued policy actions now
    HANDBACK = "handback"  # request a fresh chunk from the current state


@dataclass(frozen=True)
class GateConfig:
    mode: TakeoverMode = TakeoverMode.TOGGLE
    ramp_steps: int = 5  # shortest handover ramp, in control steps (longer when the gap is large)
    start_in_human: bool = False  # demonstration collection: the human drives from the first step


@dataclass(frozen=True)
class HumanIntent:
    """What the input devices said this tick (merged over all of them)."""

    toggle_pressed: bool = False  # any takeover-toggle press since the last tick (many presses = one)
    deadman_held: bool = False
    command: np.ndarray | None = None  # the human's action, or None when no device has a fresh one
    aligned: bool = True  # a leader arm is within tolerance of the follower (always True for a gamepad)


@dataclass(frozen=True)
class GateOutput:
    command: np.ndarray | None  # None: hold the arm where it is
    source: Source
    phase: GatePhase
    events: tuple[GateEvent, ...] = ()
    human_in_control: bool = False  # for the recorder's `intervention` flag


RAMP_HEADROOM = 2.0  # smoothstep peaks at 1.5x its mean speed, and the target may itself be moving


def ramp_length(start: np.ndarray, target: np.ndarray, max_step: np.ndarray | None, minimum: int,
                relative: np.ndarray | None = None) -> int:
    """Steps for a handover ramp from ``start`` to ``target`` that keeps every joint under its per-step
    limit with headroom, so the safety filter never has to clip a handover. ``relative``: components
    that are displacements or velocities, which switch at once (with none else: no ramp, 1 step)."""
    if relative is not None:
        if relative.all():
            return 1
        keep = ~relative
        start, target = np.asarray(start, float)[keep], np.asarray(target, float)[keep]
        max_step = None if max_step is None else np.asarray(max_step, float)[keep]
    if max_step is None:
        return minimum
    needed = RAMP_HEADROOM * np.max(np.abs(np.asarray(target, float) - start) / np.asarray(max_step, float))
    return max(minimum, int(np.ceil(needed)))


def ramp(start: np.ndarray, target: np.ndarray, step: int, total: int,
         relative: np.ndarray | None = None) -> np.ndarray:
    """Command ``step`` of ``total`` (1-based) on a smooth path from ``start`` to ``target``.

    Smoothstep weights (zero slope at both ends) so the handover has no velocity kink. ``relative``
    components (displacements, velocities) are the target's at once: a ramp would shrink them.
    """
    if total <= 0 or step >= total:
        return np.array(target, dtype=float)
    x = step / total
    weight = x * x * (3.0 - 2.0 * x)
    out = start + weight * (np.asarray(target, dtype=float) - start)
    return out if relative is None else np.where(relative, np.asarray(target, dtype=float), out)


class TakeoverGate:
    def __init__(self, config: GateConfig = GateConfig()):
        self.config = config
        self.max_step: np.ndarray | None = None
        self.relative: np.ndarray | None = None
        self.reset()

    def bound_ramps(self, max_step: np.ndarray, relative: np.ndarray | None = None) -> None:
        """Let ramps lengthen so no joint moves faster than ``max_step`` per step (the runtime's limits);
        ``relative`` components (a plugged-in task's deltas) are handed over at once, never ramped."""
        self.max_step = np.asarray(max_step, dtype=float)
        self.relative = None if relative is None or not np.any(relative) else np.asarray(relative, bool)

    def reset(self) -> None:
        """New episode: back to the starting controller, no ramp in progress."""
        self.phase = GatePhase.HUMAN if self.config.start_in_human else GatePhase.POLICY
        self._ramp_from: np.ndarray | None = None
        self._ramp_step = 0
        self._ramp_total = self.config.ramp_steps
        self.takeovers = 0

    @property
    def ramping(self) -> bool:
        """A handover ramp is under way (its last step already reports the new phase)."""
        return self.phase in (GatePhase.TO_HUMAN, GatePhase.TO_POLICY) and self._ramp_step > 0

    @property
    def human_wants(self) -> bool:
        return self.phase in (GatePhase.TO_HUMAN, GatePhase.HUMAN)

    def _wants_control(self, intent: HumanIntent) -> bool:
        if self.config.mode is TakeoverMode.DEADMAN:
            return intent.deadman_held
        return (not self.human_wants) if intent.toggle_pressed else self.human_wants

    def step(self, intent: HumanIntent, policy_command: np.ndarray | None, last_sent: np.ndarray) -> GateOutput:
        """One tick: apply the intent, then decide the command and its source."""
        events: list[GateEvent] = []
        wants = self._wants_control(intent)
        if wants and self.phase in (GatePhase.POLICY, GatePhase.TO_POLICY):
            self.phase, self._ramp_from, self._ramp_step = GatePhase.TO_HUMAN, None, 0
            self.takeovers += 1
            events.append(GateEvent.TAKEOVER)
        elif not wants and self.phase in (GatePhase.HUMAN, GatePhase.TO_HUMAN):
            self.phase, self._ramp_from, self._ramp_step = GatePhase.TO_POLICY, None, 0
            events.append(GateEvent.HANDBACK)

        if self.phase is GatePhase.POLICY:
            return self._out(policy_command, Source.POLICY, events)
        if self.phase is GatePhase.HUMAN:
            return self._out(intent.command, Source.HUMAN, events)
        if self.phase is GatePhase.TO_HUMAN:
            if intent.command is None or not intent.aligned:
                return self._out(None, Source.HOLD, events)  # wait for a fresh, aligned device
            return self._ramp_towards(intent.command, last_sent, Source.HUMAN, GatePhase.HUMAN, events)
        # TO_POLICY: hold until the fresh chunk arrives, then ramp into it.
        if policy_command is None:
            return self._out(None, Source.HOLD, events)
        return self._ramp_towards(policy_command, last_sent, Source.POLICY, GatePhase.POLICY, events)

    def _ramp_towards(self, target, last_sent, source: Source, done: GatePhase, events) -> GateOutput:
        if self._ramp_from is None:
            self._ramp_from = np.array(last_sent, dtype=float)
            self._ramp_total = ramp_length(self._ramp_from, target, self.max_step, self.config.ramp_steps, self.relative)
        self._ramp_step += 1
        command = ramp(self._ramp_from, target, self._ramp_step, self._ramp_total, self.relative)
        if self._ramp_step >= self._ramp_total:
            self.phase = done
        return self._out(command, source, events)

    def _out(self, command, source: Source, events) -> GateOutput:
        return GateOutput(
            command=None if command is None else np.asarray(command, dtype=float),
            source=source if command is not None else Source.HOLD,
            phase=self.phase,
            events=tuple(events),
            human_in_control=self.human_wants,
        )
