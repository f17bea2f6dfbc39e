"""Episodes a person runs (hgd-collect, hgd-run with devices): start on the operator's button, end on
a label, the task's check or a time limit, label every attempt, redo a discarded one on the same
scene, and say of each episode whether the recorder saved it."""

from __future__ import annotations

import signal
import threading
from dataclasses import dataclass
from typing import Callable

from teleop.intent import DeviceEvent
from teleop.runtime import LABEL_EVENTS, RobotRuntime, RuntimeReport

START_KEYS = "n / X"
LABEL_KEYS = "enter / Start: success   b / Back: failure   x / B: discard and redo"


@dataclass(frozen=True)
class SessionPlan:
    episodes: int  # labelled episodes wanted (discarded attempts are redone)
    max_steps: int
    task: str
    kind: str = "demo"  # demo | rollout
    seed: int = 0
    operator: str = ""
    own_time_limit: bool = False  # max_steps replaces the driver's own limit
    with_operator: bool = True  # devices are there: wait for the start button, ask for labels
    simulated: bool = True  # the sim resets the scene; a real arm needs the operator to
    judge: bool = True  # the driver's outcome is a verdict on the task
    env_args: Callable[[int], str] = lambda seed: "{}"


def default_step_limit(driver) -> int:
    """A sim task's own step limit, else 60 s of steps (a real arm has none of its own)."""
    return getattr(driver, "max_steps", None) or int(60 * driver.spec.control_hz)


def session_plan(args, robot, driver, kind: str, with_operator: bool = True) -> SessionPlan:
    """The plan of a session command from its flags (--episodes, --max-steps, --seed, --operator)
    and the robot: one place, so hgd-collect and hgd-run cannot drift apart."""
    import json

    from hgdagger.robots.registry import episode_env_args, is_simulated

    return SessionPlan(episodes=args.episodes, max_steps=args.max_steps or default_step_limit(driver),
                       task=robot.task or robot.name, kind=kind, seed=args.seed, operator=args.operator,
                       own_time_limit=args.max_steps is not None, with_operator=with_operator,
                       simulated=is_simulated(robot), judge=bool(robot.task),
                       env_args=lambda seed: json.dumps(episode_env_args(robot, seed)))


@dataclass
class EpisodeResult:
    index: int  # 1-based, among labelled episodes
    seed: int
    report: RuntimeReport
    saved: bool
    saved_line: str


def run_session(rt: RobotRuntime, driver, plan: SessionPlan, recording, say: Callable[[str], None] = print,
                stop: Callable[[], bool] | None = None,
                on_episode: Callable[[EpisodeResult], None] | None = None,
                echo_warnings: bool = False) -> list[EpisodeResult]:
    """Run ``plan.episodes`` labelled episodes; every attempt (discards too) is returned, and handed
    to ``on_episode`` as it ends (so an interrupted session still has what it did). ``echo_warnings``:
    no console window is open, so what it would warn about is said through ``say``."""
    if threading.current_thread() is threading.main_thread():  # `kill` ends a session as Ctrl-C does: cleanly
        signal.signal(signal.SIGTERM, _interrupt)
    echo = WarningEcho(rt, say) if echo_warnings else None
    try:
        return _run_episodes(rt, driver, plan, recording, say, stop, on_episode)
    finally:
        if echo is not None:
            echo.stop()


def _run_episodes(rt: RobotRuntime, driver, plan: SessionPlan, recording, say: Callable[[str], None],
                  stop: Callable[[], bool] | None,
                  on_episode: Callable[[EpisodeResult], None] | None) -> list[EpisodeResult]:
    results: list[EpisodeResult] = []
    labelled = 0
    rt.progress.kind = "collect" if plan.kind == "demo" else "rollout"
    rt.progress.episodes_total = plan.episodes
    while labelled < plan.episodes and not (stop and stop()):
        k = labelled + 1
        seed = plan.seed + labelled  # a redo replays the same scene
        driver.reset(seed)
        rt.progress.episode_index = k
        if plan.with_operator:
            prompt = (f"press {START_KEYS} to start episode {k} of {plan.episodes}" if plan.simulated
                      else f"reset the scene, then press {START_KEYS} to start episode {k} of {plan.episodes}")
            say(prompt)
            if rt.wait_for_operator({DeviceEvent.START}, "waiting" if plan.simulated else "reset", prompt, stop) is None:
                break
        report = rt.run_episode(plan.max_steps, task=plan.task, kind=plan.kind, seed=seed, operator=plan.operator,
                                env_args=plan.env_args(seed), own_time_limit=plan.own_time_limit,
                                count_holds=not plan.with_operator, judge=plan.judge, operator_started=plan.with_operator,
                                ask_label=_label_asker(rt, plan, say, stop) if plan.with_operator else None, stop=stop)
        saved, line = recording.saved(rt.episode_id, discarded=report.label == "discard")
        results.append(EpisodeResult(k, seed, report, saved, line))
        if not saved and recording.forwarder is not None:
            rt.progress.warnings.append(f"episode {k}: {line}")
        disagrees = report.verdict and report.label not in (report.verdict, "discard")
        verdict = f" (the task's check says {report.verdict})" if disagrees else ""
        who = "" if report.labelled_by == "operator" else f" [by the {report.labelled_by}]"
        say(f"episode {k}/{plan.episodes} (seed {seed}): {report.label}{who}{verdict}, {report.steps} steps, "
            f"{report.human_steps} driven, {report.hold_steps} held"
            + (f", {report.takeovers} takeovers" if plan.kind == "rollout" and plan.with_operator else "") + f": {line}")
        if on_episode is not None:
            on_episode(results[-1])
        rt.progress.last_episode = f"episode {k}: {report.label}{verdict}, {report.steps} steps: {line}"
        if report.label == "discard":
            say(f"discarded: episode {k} again, on the same scene (seed {seed})")
        else:
            labelled += 1
    rt.progress.phase, rt.progress.prompt = "done", f"{labelled} of {plan.episodes} episodes done"
    return results


class WarningEcho:
    """The console's warnings said in the terminal when no console window is open: each one once,
    when it appears, and again only if it clears and comes back (a gamepad that cannot drive this
    arm, a leader off the follower, a stale camera: without it the operator saw nothing happen)."""

    def __init__(self, rt: RobotRuntime, say: Callable[[str], None], period_s: float = 0.5) -> None:
        self.rt, self.say, self.period_s = rt, say, period_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="hgd-warnings", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        shown: set[str] = set()
        while not self._stop.wait(self.period_s):
            now = set(self.rt.console_status().warnings) - set(self.rt.progress.warnings)  # those were said
            for line in sorted(now - shown):
                self.say(f"warning: {line}")
            shown = now

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2.0)


def _interrupt(signum, frame) -> None:  # noqa: ARG001
    raise KeyboardInterrupt


def _label_asker(rt: RobotRuntime, plan: SessionPlan, say: Callable[[str], None], stop):
    """Ask the operator for a label when the episode ended without one (time up, the task's check);
    a demonstration the task's check passed needs none."""

    def ask(verdict: str) -> str | None:
        if plan.kind == "demo" and verdict == "success":
            return None
        why = f"the task's check says {verdict}" if verdict else "time is up"
        prompt = f"episode over ({why}): {LABEL_KEYS}"
        say(prompt)
        pressed = rt.wait_for_operator(set(LABEL_EVENTS) - {DeviceEvent.RESET}, "label", prompt, stop)
        return LABEL_EVENTS[pressed] if pressed is not None else None

    return ask
