"""The robot runtime: a fixed-rate loop that executes policy chunks on a robot driver, safely.

Each tick, in this order: observe; apply what the fetcher delivered (chunks, failures, link
changes); ask the executor for this step's action (or a human override, if one is wired in); if
there is none, hold and mark the step HOLD; ramp back in after a hold; pass the command through the
safety filter; send it; hand the step record to the bounded recording queue; post the next
request if one is due; sleep to the next deadline. Nothing in a tick waits on the network, the
policy or the disk.
"""

from __future__ import annotations

import logging
import sys
import time
import uuid
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from hgdagger.common import wire
from hgdagger.common.observation_sets import is_frame, missing_observations
from hgdagger.common.record_queue import RecordQueue
from hgdagger.common.types import Observation, RobotDriver, Source
from teleop.console import ConsoleStatus
from teleop.executor import ChunkExecutor, ExecConfig, Planned
from teleop.fetcher import ChunkEvent, ChunkFetcher, FailedEvent, LinkEvent
from teleop.gate import GateEvent
from teleop.human_side import HumanSide
from teleop.intent import DeviceEvent
from teleop.command_shaper import CommandShaper
from teleop.safety import SafetyLimits, Verdict
from teleop.timing import JitterStats, Ticker, drop_realtime, try_realtime

log = logging.getLogger("hgd.runtime")

# Operator buttons that end an episode, and the label each gives it (a reset abandons the attempt).
LABEL_EVENTS = {DeviceEvent.SUCCESS: "success", DeviceEvent.FAILURE: "failure", DeviceEvent.DISCARD: "discard",
                DeviceEvent.RESET: "discard"}


class NoPolicy:
    """Stands in for the chunk executor when no policy server is attached (teleop-only collection)."""

    stale_chunks = 0

    def plan(self, step: int) -> Planned:
        return Planned(None)

    def wants_request(self, step: int) -> bool:
        return False

    def drop_chunks(self) -> None:
        pass


@dataclass
class RuntimeConfig:
    execution: ExecConfig = field(default_factory=ExecConfig)
    control_hz: float | None = None  # default: the driver's spec.control_period
    resume_ramp_steps: int = 10  # after a hold, blend from the held command to the policy over this many steps
    velocity_scale: float = 1.0  # fraction of the spec's max joint velocity allowed per step
    realtime: bool = True
    rt_priority: int = 50
    gil_switch_interval_s: float = 0.0005
    robot_id: str = "robot0"
    doubt_threshold: float = 0.05  # rad of chunk spread at which the console's doubt gauge alarms
    lockstep: bool = False  # sim only: no real-time pacing; every request is answered before the next tick
    lockstep_timeout_s: float = 10.0
    # lockstep only: 1 = a request goes out after the step's command and its chunk runs from the next
    # step (a served policy's timing); 0 = it is answered before the step's own command, so the step
    # runs the chunk's first action (evaluation's timing: `teleop.local_rollout`, latency_steps=0).
    lockstep_latency_steps: int = 1
    camera_stale_after_s: float = 0.5  # a camera with no newer frame is stale: a warning, and a hold if the policy sees it


@dataclass
class RuntimeReport:
    steps: int = 0
    hold_steps: int = 0
    policy_steps: int = 0
    human_steps: int = 0
    rejected: int = 0  # non-finite / malformed targets replaced by a hold
    clipped: int = 0  # targets changed by the range or rate limit
    link_losses: int = 0
    failed_requests: int = 0
    stale_chunks: int = 0
    record_drops: int = 0
    scheduler: str = ""
    timing: dict = field(default_factory=dict)
    events: list[tuple[int, str]] = field(default_factory=list)  # (step, what happened)
    latency_ms: list[float] = field(default_factory=list)
    delays_steps: list[int] = field(default_factory=list)
    takeovers: int = 0
    label: str = ""  # success | failure | discard: the operator's, else the task's
    verdict: str = ""  # the task's own check (success | failure), beside the label; "" where there is none
    labelled_by: str = ""  # operator | task | time limit


@dataclass
class SessionProgress:
    """Where a session with a person in it stands, for the console (set by the session command)."""

    kind: str = "rollout"  # collect | rollout
    episode_index: int = 0  # 1-based; 0: unknown
    episodes_total: int = 0
    phase: str = "running"  # waiting (for the start button) | running | reset (a real arm: reset the scene) | label | done
    prompt: str = ""  # what the operator should do now, in a sentence
    last_episode: str = ""  # how the last episode ended and where it was saved
    warnings: list[str] = field(default_factory=list)  # e.g. episodes the recorder did not confirm saved


class RobotRuntime:
    """Drive ``driver`` with chunks from the policy server behind ``fetcher`` (None: no policy at all,
    the human side drives — demonstration collection)."""

    def __init__(self, driver: RobotDriver, fetcher: ChunkFetcher | None, config: RuntimeConfig | None = None,
                 records: RecordQueue | None = None, human: HumanSide | None = None,
                 gil_sharers: list | None = None) -> None:
        """``gil_sharers``: the process's other busy threads (camera sets, the record forwarder: anything
        with an ``rt_priority``); a real-time loop puts them under SCHED_FIFO just below its fetcher, so
        none can be preempted while holding the GIL the loop is waiting for (priority inversion)."""
        self.driver, self.fetcher = driver, fetcher
        self.gil_sharers = [g for g in (gil_sharers or []) if g is not None]
        self.cfg = config or RuntimeConfig()
        self.records = records
        self.human = human
        spec = driver.spec
        self.period = 1.0 / self.cfg.control_hz if self.cfg.control_hz else spec.control_period
        self.limits = SafetyLimits.from_spec(spec, velocity_scale=self.cfg.velocity_scale)
        self.A = spec.action_dim
        self.nan_action = np.full(self.A, np.nan)
        self.report = RuntimeReport()
        if human is not None:
            human.gate.bound_ramps(self.limits.max_step, self.limits.relative)
        self.last_verdict = Verdict.OK
        self.step = 0
        self.shaper = CommandShaper(self.limits, self.cfg.resume_ramp_steps)
        self.policy_ok = True
        self.episode_id = ""
        self.checkpoint_id = ""
        self.executor: ChunkExecutor | None = None
        self.on_step: Callable[[int, Source, np.ndarray], None] | None = None  # for tests/benchmarks
        self._pending_events: list = []  # lockstep: replies already awaited, applied next tick
        self._ignore_chunks_before = -1  # after a handback, only chunks from the current state count
        self._labels: set[DeviceEvent] = set()
        self._last_obs: Observation = {}
        self._last_source = Source.HOLD
        self._human_in_control = False
        self._episode_started = time.monotonic()
        self._jitter = JitterStats(self.period)
        self.task = ""
        self._driver_ok = True
        self._doubt: float | None = None
        self._policy_keys: frozenset[str] = frozenset()  # the observations the served policy reads
        self._stale_cameras: dict[str, float | None] = {}
        self._first_frame_wait: dict[str, float] = {}  # camera -> when we started waiting for its first frame
        self.progress = SessionProgress()
        self._last_reply_at = -1e9
        self._doubt_at = -1e9
        self._max_steps: int | None = None
        self._counted_steps = 0  # steps that count against the episode's limit

    # ------------------------------------------------------------------ episodes
    def start(self, connect_timeout_s: float = 10.0) -> wire.Handshake | None:
        if self.cfg.realtime:  # never otherwise: real-time helpers would then outrank a normal loop
            for sharer in self.gil_sharers:
                sharer.rt_priority = max(1, self.cfg.rt_priority - 2)
        if self.fetcher is None:
            self.executor = NoPolicy()
            return None
        if self.cfg.realtime and self.fetcher.rt_priority is None:
            self.fetcher.rt_priority = max(1, self.cfg.rt_priority - 1)
        hs = self.fetcher.start(connect_timeout_s)
        if hs.action_dim != self.A:
            raise ValueError(f"server's policy has action_dim {hs.action_dim}, this robot takes {self.A}")
        given = self.driver.spec.observation_shapes
        lacking = missing_observations(hs.observation_shapes, given) if given else []
        if lacking:  # it would never get a chunk: every step would hold, and nothing would say why
            cameras = [k for k in lacking if is_frame(tuple(hs.observation_shapes[k]))]
            names = ",".join(k.removesuffix("_rgb") for k in cameras)
            hint = (f"; its cameras: a sim robot renders them with --cameras {names} (hgd-run does by itself when "
                    "--cameras is left out), a real arm needs them in its robot config" if cameras else "")
            raise ValueError(f"the server's policy ({hs.checkpoint_id}) reads {', '.join(lacking)}, which this robot "
                             f"does not give (it gives {', '.join(sorted(given))}){hint}")
        if abs(hs.control_period - self.period) > 1e-6:
            log.warning("policy was trained at %.1f Hz, runtime runs at %.1f Hz", 1 / hs.control_period, 1 / self.period)
        self.executor = ChunkExecutor(self.cfg.execution, hs.chunk_length, hs.action_dim)
        self.checkpoint_id = hs.checkpoint_id
        self._policy_keys = frozenset(hs.observation_shapes)
        return hs

    def attach_records(self, records: RecordQueue | None, forwarder=None) -> None:
        """Record from now on into ``records`` (a session opens its recorder once the policy server
        has answered, so a failed start leaves no folder behind); ``forwarder`` shares our GIL."""
        self.records = records
        if forwarder is not None:
            self.gil_sharers.append(forwarder)
            if self.cfg.realtime:
                forwarder.rt_priority = max(1, self.cfg.rt_priority - 2)

    def run_episode(self, max_steps: int, task: str = "", kind: str = "rollout",
                    stop: Callable[[], bool] | None = None, seed: int | None = None,
                    env_args: str = "{}", operator: str = "", *, own_time_limit: bool = False,
                    count_holds: bool = True, judge: bool = True, operator_started: bool = False,
                    ask_label: Callable[[str], str | None] | None = None) -> RuntimeReport:
        """Run up to ``max_steps`` ticks, until the driver reports the episode done, or until the
        operator labels it (success, failure, discard).

        ``own_time_limit``: ``max_steps`` replaces the driver's own limit (a sim task's
        truncation), which then never ends the episode. ``count_holds=False``: held steps (the arm
        waiting for its operator or the policy) do not count against ``max_steps``. ``judge``: the
        driver's outcome is a verdict on the task (a sim task's check; a real arm has none).
        ``operator_started``: the operator's start button began it (``wait_for_operator``), so
        presses since then count. ``ask_label(verdict)``: when the episode ended without the
        operator's label (task done, time up), ask for one before the episode is closed (None: keep
        the verdict)."""
        if self.executor is None:
            self.start()
        self.episode_id = uuid.uuid4().hex[:12]
        self.step = 0
        self.report = RuntimeReport()
        self.shaper.reset()
        self._labels = set()
        self._pending_events = []
        self._ignore_chunks_before = -1
        self.executor.drop_chunks()
        stale_before = self.executor.stale_chunks
        if self.fetcher is not None:
            self.fetcher.forget_request()  # an observation of the last episode is never planned from
        if self.human is not None:
            self.human.reset(seed, drop_presses=not operator_started)
        self._record(wire.EpisodeStart(task=task, kind=kind, checkpoint_id=self.checkpoint_id, started_at=time.time(),
                                       env_args=env_args, operator=operator))
        self.report.scheduler = try_realtime(self.cfg.rt_priority) if self.cfg.realtime else "normal scheduler"
        # The loop shares the GIL with the fetcher thread; CPython hands the GIL over only every
        # switch interval (5 ms by default), which would show up directly as loop jitter.
        switch = sys.getswitchinterval()
        sys.setswitchinterval(min(switch, self.cfg.gil_switch_interval_s))
        jitter = self._jitter = JitterStats(self.period)
        self._episode_started = time.monotonic()
        self.task = task
        self._max_steps, self._counted_steps = max_steps, 0
        ticker = Ticker(self.period)
        try:
            while self._counted_steps < max_steps and not (stop and stop()):
                jitter.tick(time.monotonic())
                done = self.tick(ignore_truncation=own_time_limit)
                if count_holds or self._last_source != Source.HOLD:
                    self._counted_steps += 1
                if done or self._labels & LABEL_EVENTS.keys():
                    break
                if not self.cfg.lockstep:
                    ticker.wait()
        finally:
            sys.setswitchinterval(switch)
            if self.cfg.realtime:
                drop_realtime()
        labelled = [LABEL_EVENTS[e] for e in LABEL_EVENTS if e in self._labels]
        success = bool(self.driver.outcome.success)
        verdict = ("success" if success else "failure") if judge else ""
        label, by = (labelled[0], "operator") if labelled else (verdict or "failure", "task" if verdict else "time limit")
        if not labelled and ask_label is not None:
            asked = ask_label(verdict)
            if asked:
                label, by = asked, "operator"
        self.report.label, self.report.verdict, self.report.labelled_by = label, verdict, by
        self._record(wire.EpisodeEnd(outcome=label, success=label == "success", num_steps=self.step, ended_at=time.time(),
                                     verdict=verdict))
        self.report.timing = jitter.summary() | {"overruns": ticker.overruns}
        self.report.stale_chunks += self.executor.stale_chunks - stale_before
        self.report.record_drops = self.records.dropped if self.records else 0
        return self.report

    def close(self) -> None:
        if self.fetcher is not None:
            self.fetcher.stop()

    # ------------------------------------------------------------------ one tick
    def _note(self, what: str) -> None:
        self.report.events.append((self.step, what))
        log.info("step %d: %s", self.step, what)

    def _apply_events(self) -> None:
        fresh = self.fetcher.events() if self.fetcher is not None else []
        events, self._pending_events = self._pending_events + fresh, []
        for ev in events:
            if isinstance(ev, (ChunkEvent, FailedEvent)) and ev.episode_id != self.episode_id:
                self.report.stale_chunks += isinstance(ev, ChunkEvent)
                self._note("dropped a reply to the previous episode's request")
                continue  # planned from another episode's scene: never executed, never counted here
            if isinstance(ev, ChunkEvent):
                if ev.obs_step < self._ignore_chunks_before:
                    continue  # planned before the handback, from a state the human has since left
                r = ev.reply
                if self.executor.on_chunk(np.asarray(r.actions), ev.obs_step, self.step, r.chunk_id):
                    self.checkpoint_id = r.checkpoint_id
                self.report.latency_ms.append(ev.latency_s * 1e3)
                self._last_reply_at = time.monotonic()
                if r.doubt >= 0:  # the server samples doubt after its chunks, so not every reply has one
                    self._doubt, self._doubt_at = r.doubt, time.monotonic()
                self.report.delays_steps.append(self.step - ev.obs_step)
            elif isinstance(ev, FailedEvent):
                self.executor.request_failed()
                self.report.failed_requests += 1
                self._note(f"request failed: {ev.reason}")
            elif isinstance(ev, LinkEvent):
                self.policy_ok = ev.up
                if not ev.up:
                    self.executor.drop_chunks()  # a dead server's plans are not trusted: hold now
                    self.report.link_losses += 1
                self._note(("POLICY back: " if ev.up else "HOLD: policy stale: ") + ev.reason)

    def wait_for_operator(self, wanted: set[DeviceEvent], phase: str, prompt: str,
                          stop: Callable[[], bool] | None = None) -> DeviceEvent | None:
        """Between episodes: the arm holds, nothing is recorded, and the loop keeps observing (the
        console stays live) until the operator presses one of ``wanted`` (the first one pressed is
        returned; None if ``stop`` says so first). Needs devices on the human side."""
        if self.human is None:
            raise ValueError("waiting for the operator needs a human side with devices")
        self.progress.phase, self.progress.prompt = phase, prompt
        self.driver.hold()
        ticker = Ticker(self.period)
        try:
            while not (stop and stop()):
                obs = self.driver.observe()
                reading = self.human.source.read(obs, None, False)
                self.human.last_reading = reading
                self._last_obs, self._last_source, self._human_in_control = obs, Source.HOLD, False
                pressed = [e for e in (DeviceEvent(x) for x in reading.episode_events) if e in wanted]
                if pressed:
                    return pressed[0]
                self._jitter.tick(time.monotonic())
                ticker.wait()
            return None
        finally:
            self.progress.phase, self.progress.prompt = "running", ""

    def tick(self, ignore_truncation: bool = False) -> bool:
        """One control step. Returns True when the driver says the episode is over (its own step
        limit aside, with ``ignore_truncation``: the session's limit rules)."""
        obs = self.driver.observe()
        self.shaper.begin(self.driver, obs)
        self._apply_events()
        if self._answer_now:
            self._request(obs, self._human_in_control)
            self._apply_events()
        planned = self.executor.plan(self.step)
        if self._cameras_stale_for_policy():
            planned = Planned(None)  # its chunk was planned from frames that have stopped coming: hold
        human, human_in_control = None, False
        if self.human is not None:
            decision, reading = self.human.decide(obs, planned.action, self.shaper.last_sent)
            human, human_in_control = reading.intent.command, decision.human_in_control
            self._labels |= reading.episode_events
            if GateEvent.TAKEOVER in decision.events:
                self.executor.drop_chunks()  # the policy's queued actions go at once
                self.report.takeovers += 1
                self._note("TAKEOVER")
            if GateEvent.HANDBACK in decision.events:
                self.executor.drop_chunks()  # a fresh chunk from the current state
                self._ignore_chunks_before = self.step
                self._note("HANDBACK")
            source, target = decision.source, decision.command
        elif planned.action is not None:
            source, target = Source.POLICY, planned.action
        else:
            source, target = Source.HOLD, None

        shaped = self.shaper.shape(source, target)
        source, self.last_verdict = shaped.source, shaped.verdict
        if shaped.verdict & Verdict.REJECTED:
            self.report.rejected += 1
        elif shaped.verdict:
            self.report.clipped += 1
        sent = np.asarray(self.driver.command(shaped.command), np.float64)
        if not self._driver_healthy():
            source = Source.HOLD  # the driver could not command the arm (a bus fault): it holds
        self.shaper.sent(sent)
        self._last_obs, self._last_source, self._human_in_control = obs, source, human_in_control
        counts = {Source.POLICY: "policy_steps", Source.HUMAN: "human_steps", Source.HOLD: "hold_steps"}
        setattr(self.report, counts[source], getattr(self.report, counts[source]) + 1)
        done = bool(self.driver.terminated or (self.driver.truncated and not ignore_truncation))
        self._record(wire.StepRecord(
            step=self.step, observation=obs, action=sent,
            policy_action=planned.action if planned.action is not None else self.nan_action,
            human_action=np.asarray(human, np.float64) if human is not None else self.nan_action, source=int(source),
            intervention=human_in_control, timestamp=time.time(),
            chunk_id=planned.chunk_id if planned.action is not None else -1,
            chunk_index=planned.index if planned.action is not None else -1,
            checkpoint_id=self.checkpoint_id, reward=float(self.driver.reward),
            done=done))
        if self.on_step is not None:
            self.on_step(self.step, source, sent)
        if not self._answer_now:
            self._request(obs, human_in_control)
        self.step += 1
        self.report.steps += 1
        return done

    @property
    def _answer_now(self) -> bool:
        """Lockstep with no latency: this step's request is answered before this step's command."""
        return self.cfg.lockstep and self.cfg.lockstep_latency_steps == 0

    def _request(self, obs: Observation, human_in_control: bool) -> None:
        """Send this step's observation if the executor wants a chunk (lockstep: and wait for it)."""
        if self.fetcher is None or not self.policy_ok or not self.executor.wants_request(self.step):
            return
        prefix, frozen = self.executor.request(self.step)
        if human_in_control:  # the human's commands, not the chunk, are what will run meanwhile
            prefix, frozen = None, 0
        elif self._answer_now:
            frozen = 0  # answered before anything of the previous chunk runs (as in evaluation)
        self.fetcher.submit(self.step, obs, prefix, frozen, self.episode_id)
        if self.cfg.lockstep:
            self._pending_events += self.fetcher.wait_events(self.cfg.lockstep_timeout_s)

    @property
    def last_source(self) -> Source:
        """Who drove the last tick (read from other threads)."""
        return self._last_source

    @property
    def last_observation(self) -> Observation:
        """What the robot observed at the last tick (read from other threads: a reference, never mutated)."""
        return self._last_obs

    @property
    def human_in_control(self) -> bool:
        """Whether the person held control at the last tick (for the console and benchmarks)."""
        return self._human_in_control

    def _driver_healthy(self) -> bool:
        """Drivers report faults (a real arm's bus) in ``health``; note each fault and recovery once."""
        health = self.driver.health
        ok = bool(health.ok)
        if ok != self._driver_ok:
            self._note("driver recovered" if ok else f"HOLD: driver fault: {health.fault}")
            self._driver_ok = ok
        return ok

    def _cameras_stale_for_policy(self) -> bool:
        """Note each camera going stale and coming back once; True while one the policy reads has no
        fresh frame (none yet counts: the policy is never shown a placeholder image)."""
        limit, now = self.cfg.camera_stale_after_s, time.monotonic()
        ages = self.driver.camera_ages()
        for name, age in ages.items():  # a camera yet to deliver its first frame is stale once it has kept us waiting
            if age is None:
                self._first_frame_wait.setdefault(name, now)
            else:
                self._first_frame_wait.pop(name, None)
        waited = {name: now - since for name, since in self._first_frame_wait.items()}
        stale = {name: age for name, age in ages.items() if (age if age is not None else waited.get(name, 0.0)) > limit}
        for name in stale.keys() - self._stale_cameras.keys():
            self._note(f"camera {name} stale: no frame for {stale[name] or waited[name]:.1f} s"
                       + (" (HOLD: the policy sees it)" if f"{name}_rgb" in self._policy_keys else ""))
        for name in self._stale_cameras.keys() - stale.keys():
            self._note(f"camera {name} back")
        self._stale_cameras = stale
        return any(f"{name}_rgb" in self._policy_keys and (age is None or age > limit) for name, age in ages.items())

    def console_status(self) -> ConsoleStatus:
        """A snapshot for the operator console, read from its own thread (at most a tick old)."""
        source = self._last_source
        if source != Source.HOLD:
            reason = ""
        elif not self._driver_ok:
            reason = "robot fault"
        elif any(f"{name}_rgb" in self._policy_keys for name in self._stale_cameras) and not self._human_in_control:
            reason = "camera stale"
        elif not self.policy_ok and not self._human_in_control:
            reason = "policy stale"
        elif self._human_in_control:
            reason = "waiting for the operator's input"
        else:
            reason = "waiting for the policy"
        recent = self._jitter.recent(200)
        dev = np.abs(np.diff(recent) - self.period) * 1e3 if len(recent) > 2 else np.zeros(1)
        reading = self.human.last_reading if self.human is not None else None
        warnings = list(reading.warnings) if reading is not None else []
        if not self.policy_ok:
            warnings.append("policy server unreachable: the arm holds until it is back")
        if not self._driver_ok:
            warnings.append(f"robot fault: {self.driver.health.fault} (the arm holds)")
        for name, age in self._stale_cameras.items():
            seen = f"no frame for {age:.1f} s" if age is not None else "no frame yet"
            held = " (the policy sees it: the arm holds)" if f"{name}_rgb" in self._policy_keys else ""
            warnings.append(f"camera {name}: {seen}{held}")
        now = time.monotonic()
        stale = set()
        fresh_for = max(2.0, 20 * self.period)
        if not self.policy_ok or now - self._last_reply_at > fresh_for:
            stale.add("latency")
        if not self.policy_ok or now - self._doubt_at > fresh_for:
            stale.add("doubt")
        if len(recent) == 0 or now - recent[-1] > 5 * self.period:
            stale.add("rate")
        progress = self.progress
        warnings += progress.warnings
        running = progress.phase == "running" and self._max_steps is not None
        return ConsoleStatus(
            episode_index=progress.episode_index, episodes_total=progress.episodes_total, phase=progress.phase,
            prompt=progress.prompt, last_episode=progress.last_episode, session_kind=progress.kind,
            time_left_s=(self._max_steps - self._counted_steps) * self.period if running else None,
            takeover_mode=self.human.gate.config.mode.value if self.human is not None else "toggle",
            devices=list(reading.devices) if reading is not None else [], stale=frozenset(stale),
            source=source, hold_reason=reason, task=self.task, episode=self.episode_id,
            episode_time_s=time.monotonic() - self._episode_started,
            step_rate_hz=float(1.0 / np.mean(np.diff(recent))) if len(recent) > 2 else 0.0,
            interventions=self.report.takeovers,
            jitter_ms=(float(np.percentile(dev, 50)), float(np.percentile(dev, 99))),
            server_latency_ms=self.report.latency_ms[-1] if self.report.latency_ms else None,
            doubt=self._doubt, doubt_threshold=self.cfg.doubt_threshold, warnings=warnings,
            cameras={k[: -len("_rgb")]: v for k, v in self._last_obs.items() if k.endswith("_rgb")})

    def _record(self, msg: wire.Message) -> None:
        if self.records is not None:
            msg.header.robot_id, msg.header.episode_id = self.cfg.robot_id, self.episode_id
            self.records.put(msg)
