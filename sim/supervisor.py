"""The simulated supervisor: a person at the takeover button, with the scripted expert's hands.

It behaves like a person rather than an oracle: it notices that the arm is heading for failure only
after the policy has disagreed with what it would do for several steps (or a task's risk check
fires), takes over after a reaction delay, keeps control for a while, and hands back once the policy
agrees with it again. It speaks to the runtime the way a hold-to-intervene (dead-man) device does:
every step it says whether it wants control and what it would command.
"""

from __future__ import annotations

import enum
from dataclasses import asdict, dataclass
from typing import Callable, Sequence

import numpy as np

from hgdagger.common.types import Observation
from sim import arm
from sim.experts.base import Expert
from sim.kinematics import ArmKinematics
from sim.scene import load_model


@dataclass(frozen=True)
class SupervisorConfig:
    """How the simulated person watches and intervenes (reported with every run)."""

    divergence_ratio: float = 0.8  # |policy motion - expert motion| / |expert motion|: 0 agrees, 1 stalls, 2 reverses
    motion_floor_m: float = 0.005  # expert motions shorter than this count as this long (no 0/0 when it pauses)
    gripper_divergence: float = 0.5  # disagreement on open/closed
    divergence_steps: int = 3  # consecutive disagreeing steps before the person decides to act
    reaction_delay_s: float = 0.3  # from deciding to the takeover taking effect
    min_control_s: float = 1.0  # once in control, keep it at least this long
    agreement_steps: int = 4  # consecutive agreeing steps (after min_control_s) before handing back
    max_control_s: float = 5.0  # hand back after this long regardless, to give the policy another try
    # Calibration (per task, from data; `calibrated_ratio`): the threshold becomes the larger of
    # divergence_ratio and this quantile of the expert's own step-to-step divergence (over
    # divergence_steps in a row) in a few of its episodes, so a high-gain expert's jitter is not taken
    # for a mistake: at most 1 - quantile of its own steps would be. 0: divergence_ratio as given.
    calibration_quantile: float = 0.95
    calibration_episodes: int = 5
    # Calibration on the policy itself (`calibrate_on_policy`): before each supervised round, the
    # previous round's policy runs this many episodes alone, watched; the supervisor then acts after
    # the run length (divergence_steps times one of calibration_run_multiples) and threshold that miss
    # the fewest of its lost episodes while setting off at most target_false_alarm_rate of its won
    # ones. With fewer than calibration_min_wins won episodes there is no "normal" to learn from:
    # the expert-calibrated threshold above stands. 0 episodes: off.
    policy_calibration_episodes: int = 40
    target_false_alarm_rate: float = 0.1
    calibration_min_wins: int = 5
    calibration_run_multiples: tuple[int, ...] = (1, 2, 4, 8)

    def as_dict(self) -> dict:
        return asdict(self)


def action_divergence(policy_action: np.ndarray, expert_action: np.ndarray, scale: np.ndarray) -> float:
    """Disagreement without an arm model: the largest per-component gap in units of a tenth of that
    component's range (so the default threshold, 0.8, means "8% of the range apart somewhere")."""
    gap = np.abs(np.asarray(policy_action, float) - np.asarray(expert_action, float)) / (0.1 * np.asarray(scale, float))
    return float(gap.max())


def calibrated_ratio(self_gaps: Sequence[np.ndarray], quantile: float, floor: float, run: int = 1) -> float:
    """The divergence threshold for a task, from the expert's own step-to-step divergences (one
    array per episode): the supervisor acts after `run` consecutive steps above the threshold, so
    the threshold is the `quantile` of the smallest divergence in every `run` consecutive steps of
    the expert's (an isolated switch, a gripper closing, is not jitter), never below `floor`; `floor`
    when quantile is 0 or there is nothing to go on."""
    windows = [np.lib.stride_tricks.sliding_window_view(np.asarray(g, float), run).min(axis=1)
               for g in self_gaps if len(g) >= run]
    lows = np.concatenate(windows) if windows else np.zeros(0)
    lows = lows[np.isfinite(lows)]
    if quantile <= 0 or lows.size == 0:
        return float(floor)
    return float(max(floor, np.quantile(lows, min(quantile, 1.0), method="higher")))


def trigger_levels(gaps: Sequence[np.ndarray], run: int) -> np.ndarray:
    """Per episode: the threshold at or above which a supervisor that acts after `run` consecutive
    steps above it would never have acted (the largest `run`-step stretch minimum; 0 for an episode
    shorter than `run`). It acts in an episode exactly when its threshold is below this."""
    return np.array([np.lib.stride_tricks.sliding_window_view(np.asarray(g, float), run).min(axis=1).max()
                     if len(g) >= run else 0.0 for g in gaps], float)


@dataclass(frozen=True)
class PolicyCalibration:
    """A (run length, threshold) setting and how it does on the policy's own episodes."""

    run: int
    ratio: float
    false_alarm_rate: float  # share of won episodes it would have set off
    miss_rate: float | None  # share of lost episodes it would never have set off (None: none lost)
    feasible: bool  # false_alarm_rate <= the target


def calibrate_on_policy(won: Sequence[np.ndarray], lost: Sequence[np.ndarray], floors: dict[int, float],
                        target: float) -> tuple[PolicyCalibration, list[PolicyCalibration]]:
    """The supervisor's run length and threshold from the policy's own watched episodes (per episode,
    per step, its divergence from the expert), split by whether the policy won alone. For each run
    length in `floors` the threshold is the smallest one, not below that run's floor, that sets off
    at most `target` of the won episodes (a policy that already succeeds is rarely taken over); of
    those settings the one that misses the fewest lost episodes is chosen (then the shortest run:
    the earliest takeover). Where no finite threshold keeps to the target (the policy disagrees by
    an infinite gap, a gripper flip, in too many of its wins) the setting with the fewest false
    alarms plus misses is chosen instead. Returns the choice and every candidate."""
    candidates = []
    for run, floor in sorted(floors.items()):
        won_lv, lost_lv = trigger_levels(won, run), trigger_levels(lost, run)
        options = np.unique(np.concatenate([[floor], won_lv[np.isfinite(won_lv) & (won_lv >= floor)]]))
        fa = np.array([np.mean(won_lv > t) if won_lv.size else 0.0 for t in options])
        miss = np.array([np.mean(lost_lv <= t) if lost_lv.size else 0.0 for t in options])
        ok = fa <= target + 1e-12
        i = int(np.argmax(ok)) if ok.any() else int(np.argmin(fa + miss))  # misses grow with the threshold
        candidates.append(PolicyCalibration(run, float(options[i]), float(fa[i]),
                                            float(miss[i]) if lost_lv.size else None, bool(ok.any())))

    def cost(c: PolicyCalibration):
        miss = c.miss_rate or 0.0
        return (0, miss, c.run, c.ratio) if c.feasible else (1, c.false_alarm_rate + miss, c.run, c.ratio)

    return min(candidates, key=cost), candidates


class SupervisorPhase(enum.Enum):
    WATCHING = "watching"
    REACTING = "reacting"
    IN_CONTROL = "in_control"


@dataclass(frozen=True)
class SupervisorDecision:
    wants_control: bool  # the dead-man trigger is held
    command: np.ndarray  # what the supervisor's hands command (the expert's action)
    phase: SupervisorPhase
    divergence: float


class SimulatedSupervisor:
    def __init__(
        self,
        expert: Expert,
        config: SupervisorConfig = SupervisorConfig(),
        control_hz: float = 20.0,
        risk_check: Callable[[Observation], bool] | None = None,
        action_scale: np.ndarray | None = None,
        action_box: tuple[np.ndarray, np.ndarray] | None = None,
    ):
        """action_scale: judge disagreement in action space, relative to this per-component range
        (for tasks without the arm); None: by the gripper motions of the sim arm. action_box: (low,
        high): both actions are clipped to it before they are compared (what the robot would run)."""
        self.expert = expert
        self.config = config
        self.control_hz = control_hz
        self.risk_check = risk_check
        self.action_scale = None if action_scale is None else np.asarray(action_scale, float)
        self.action_box = None if action_box is None else tuple(np.asarray(b, float) for b in action_box)
        self._kinematics = ArmKinematics(load_model(), arm.TCP_SITE, arm.JOINT_NAMES) if action_scale is None else None
        self.reset()

    def _steps(self, seconds: float) -> int:
        return max(0, int(round(seconds * self.control_hz)))

    def reset(self, seed: int | None = None) -> None:
        self.expert.reset(seed)
        self.phase = SupervisorPhase.WATCHING
        self._disagreeing = 0
        self._agreeing = 0
        self._phase_steps = 0
        self.takeovers = 0

    def divergence(self, obs: Observation, policy_action: np.ndarray, expert_action: np.ndarray) -> float:
        """How differently the two actions move the gripper centre, relative to the expert's own motion.

        Comparing motions rather than targets is what lets a person notice a policy that stalls:
        both one-step targets lie close to the arm, but only one of them goes anywhere.
        """
        if self.action_scale is not None:
            return action_divergence(policy_action, expert_action, self.action_scale)
        if abs(policy_action[-1] - expert_action[-1]) > self.config.gripper_divergence:
            return float("inf")
        here = np.asarray(obs["ee_pos"], dtype=float)
        policy_motion = self._kinematics.site_pose(policy_action[:-1])[0] - here
        expert_motion = self._kinematics.site_pose(expert_action[:-1])[0] - here
        scale = max(float(np.linalg.norm(expert_motion)), self.config.motion_floor_m)
        return float(np.linalg.norm(policy_motion - expert_motion) / scale)

    def clip(self, action: np.ndarray) -> np.ndarray:
        """An action as the robot would run it: inside the action box (when one is known)."""
        action = np.asarray(action, float)
        return action if self.action_box is None else np.clip(action, *self.action_box)

    def judge(self, obs: Observation, policy_action: np.ndarray, expert_action: np.ndarray) -> float:
        """`divergence` of the two actions as they would run (both clipped to the action box)."""
        return self.divergence(obs, self.clip(policy_action), self.clip(expert_action))

    def step(self, obs: Observation, policy_action: np.ndarray | None) -> SupervisorDecision:
        """Watch one step: the policy's proposal (None when it has none) against the expert's action."""
        command = self.clip(self.expert.act(obs))
        gap = float("inf") if policy_action is None else self.judge(obs, policy_action, command)
        agrees = gap <= self.config.divergence_ratio
        self._disagreeing = 0 if agrees else self._disagreeing + 1
        self._agreeing = self._agreeing + 1 if agrees else 0
        self._phase_steps += 1
        cfg = self.config

        if self.phase is SupervisorPhase.WATCHING:
            risky = self.risk_check is not None and self.risk_check(obs)
            if self._disagreeing >= cfg.divergence_steps or risky:
                self._enter(SupervisorPhase.REACTING)
        if self.phase is SupervisorPhase.REACTING and self._phase_steps >= self._steps(cfg.reaction_delay_s):
            self._enter(SupervisorPhase.IN_CONTROL)
            self.takeovers += 1
        elif self.phase is SupervisorPhase.IN_CONTROL:
            settled = self._phase_steps >= self._steps(cfg.min_control_s) and self._agreeing >= cfg.agreement_steps
            if settled or self._phase_steps >= self._steps(cfg.max_control_s):
                self._enter(SupervisorPhase.WATCHING)
                self._disagreeing = 0

        wants = self.phase is SupervisorPhase.IN_CONTROL
        return SupervisorDecision(wants_control=wants, command=command, phase=self.phase, divergence=gap)

    def _enter(self, phase: SupervisorPhase) -> None:
        self.phase = phase
        self._phase_steps = 0
