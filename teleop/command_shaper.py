"""What every command passes on its way to the driver, whoever chose it: a hold keeps the arm where
the last command left it, the first commands after a hold ramp in from there (never a step), and
the safety filter limits the rest. Components that are displacements or velocities (a plugged-in
task's deltas, `SafetyLimits.relative`) hold at no motion and are never ramped. One object, used by the robot runtime's tick and by in-process
evaluation alike, so an evaluated policy is executed exactly as a served one. No clocks, no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from hgdagger.common.types import Source
from teleop.safety import SafetyLimits, Verdict, filter_command


@dataclass
class Shaped:
    command: np.ndarray  # what to send to the driver
    source: Source  # who commands this step (a rejected policy target becomes a hold)
    verdict: Verdict


class CommandShaper:
    def __init__(self, limits: SafetyLimits, resume_ramp_steps: int = 10) -> None:
        self.limits = limits
        self.resume_ramp_steps = resume_ramp_steps
        self.last_sent: np.ndarray | None = None
        self.hold_from: np.ndarray | None = None  # where the last hold left the arm
        self.ramp_k = 0

    def reset(self) -> None:
        """A new episode: nothing sent yet."""
        self.last_sent = None
        self.hold_from = None

    def begin(self, driver, obs) -> None:
        """Before each command: at an episode's first, the arm is where its driver says holding
        means (computed then only, not on every tick)."""
        if self.last_sent is None:
            self.last_sent = np.clip(driver.rest_command(obs), self.limits.lower, self.limits.upper)

    def shape(self, source: Source, target: np.ndarray | None) -> Shaped:
        """The command for this step given who chose `target` (HOLD: target is ignored)."""
        if source == Source.HOLD:
            if self.hold_from is None:
                self.hold_from = self.limits.still(self.last_sent)
            target = self.hold_from
            self.ramp_k = 0
        elif self.hold_from is not None:  # resuming: ramp from where the hold left the arm
            target = self.limits.blend(self.hold_from, target, self.ramp_k, self.resume_ramp_steps)
            self.ramp_k += 1
            if self.ramp_k >= self.resume_ramp_steps:
                self.hold_from = None
        safe, verdict = filter_command(target, self.last_sent, self.limits)
        if verdict & Verdict.REJECTED and source == Source.POLICY:
            source = Source.HOLD
        return Shaped(safe, source, verdict)

    def sent(self, command: np.ndarray) -> None:
        """What the driver reports it actually sent (the next step's rate limit starts from it)."""
        self.last_sent = command
