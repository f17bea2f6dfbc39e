"""Episodes and live sessions in rerun (``rerun-sdk``), the viewer robot-learning labs already use.

A recorded episode (``hgd-replay --rerun``) and a live session (``--rerun`` on hgd-collect, hgd-run,
hgd-rehearse) are logged with one layout, so they look the same in the viewer:

  cameras/<name>                camera frames (JPEG, as the recorder stores them; raw on request)
  joints/<joint>/target         the command sent, after clipping      } one plot per joint:
  joints/<joint>/position       where the joint was (obs joint_pos)   } target against position
  joints/<joint>/policy, /human what each side proposed, at the steps it proposed anything
  observation/<key>             the other low-dimensional observations (ee_pos, cube_pos, ...)
  control/driver                who drove: policy | human | hold, a lane in a state timeline
  control/intervention          intervening | -, the HG-DAgger label of every step
  control/events                takeovers, handbacks, episode starts and ends, as text
  policy/doubt                  the server's chunk spread (rad); live only, episode files hold none

Timelines: ``step`` counts the steps of the whole recording (a session's episodes follow one
another on it), ``episode_step`` is the runtime's step within its episode, ``wall_time`` is when
the step happened. rerun-sdk is an optional extra, imported here only.
"""

from __future__ import annotations

import json
import math
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, Mapping, Protocol, Sequence

import numpy as np

from recorder.image_storage import CODEC_ATTR, encode_jpeg, ensure_filters, is_encoded

INSTALL_HINT = "pip install 'hgdagger-stack[viewer]' (or: pip install rerun-sdk)"
DRIVERS = ("policy", "human", "hold")  # wire.StepRecord.source 0, 1, 2
DRIVER_COLOURS = ((66, 133, 244), (234, 67, 53), (150, 150, 150))
SERIES_STYLE = {"target": ((255, 193, 7), 2.0), "position": ((230, 230, 230), 2.0),  # colour, line width
                "policy": (DRIVER_COLOURS[0], 1.0), "human": (DRIVER_COLOURS[1], 1.0)}
DEFAULT_VIEWER_URL = "rerun+http://127.0.0.1:9876/proxy"  # where `rerun` (the viewer) listens by default


class RerunMissing(RuntimeError):
    """rerun-sdk is not installed; the message says how to get it, in one line."""


def import_rerun():
    """The rerun module, or RerunMissing naming the extra to install."""
    try:
        import rerun
    except ModuleNotFoundError:
        raise RerunMissing(f"logging to rerun needs rerun-sdk, which is not installed here: {INSTALL_HINT}") from None
    return rerun


@dataclass(frozen=True)
class RerunTarget:
    """Where a log goes: an .rrd file, a viewer already running, a viewer spawned here (any together)."""

    save: Path | None = None
    connect: str | None = None  # a viewer's gRPC url, e.g. DEFAULT_VIEWER_URL
    spawn: bool = False

    def describe(self) -> str:
        """Where it goes, for a line the user reads: '/tmp/a.rrd and the viewer at rerun+http://...'."""
        parts = ([str(self.save)] if self.save else []) + ([f"the viewer at {self.connect}"] if self.connect else []) \
            + (["a viewer started here"] if self.spawn else [])
        return " and ".join(parts) or "nowhere"


def viewer_problem(url: str, timeout_s: float = 2.0) -> str | None:
    """Why no rerun viewer answers at ``url`` (a gRPC url such as DEFAULT_VIEWER_URL), or None."""
    import socket
    from urllib.parse import urlparse

    try:
        parsed = urlparse(url)
        host, port, scheme = parsed.hostname, parsed.port or 9876, parsed.scheme
    except ValueError:  # a port that is not a number
        host, port, scheme = None, 0, ""
    if not host or not scheme.startswith("rerun"):
        return f"{url!r} is not a rerun viewer url (like {DEFAULT_VIEWER_URL})"
    try:
        socket.create_connection((host, port), timeout=timeout_s).close()
    except OSError as e:
        return f"no rerun viewer answers at {url} ({e.strerror or e}): start one with `rerun`, or save to a file with --rerun FILE.rrd"
    return None


class StepLike(Protocol):
    """What is logged of a step: the fields of ``wire.StepRecord`` (the live stream) or of a file's row."""

    step: int
    timestamp: float
    observation: Mapping[str, np.ndarray]
    action: np.ndarray
    policy_action: np.ndarray
    human_action: np.ndarray
    source: int
    intervention: bool


def joint_labels(action_dim: int, joint_names: Sequence[str] = ()) -> list[str]:
    """Entity names of the action's components: the arm's joints (by name where known), then the
    gripper, the last value (``RobotSpec.action_dim`` is the arm's joints plus one)."""
    arm = list(joint_names)[: action_dim - 1] if joint_names else [f"j{i}" for i in range(action_dim - 1)]
    arm += [f"a{i}" for i in range(len(arm), action_dim - 1)]
    return arm + ["gripper"] if action_dim else []


def camera_name(key: str) -> str | None:
    """``front_rgb`` -> ``front``; None for a key that is not a camera's."""
    return key[: -len("_rgb")] if key.endswith("_rgb") else None


class RerunLog:
    """One rerun recording, fed step by step. Not thread-safe: one thread logs (rerun's time cursor
    is per thread)."""

    def __init__(self, target: RerunTarget, joint_names: Sequence[str] = (), name: str = "hgdagger",
                 jpeg_quality: int | None = 90, with_doubt: bool = True) -> None:
        """``jpeg_quality`` None: raw frames (bit-exact, ~40x the bytes). ``with_doubt``: a plot for the
        policy's doubt (a live session's; an episode file has none to show)."""
        rr = self.rr = import_rerun()
        self.rec = rr.RecordingStream("hgdagger", recording_id=uuid.uuid4().hex)
        self.rec.set_log_time_enabled(False)  # `wall_time` is when the step happened, not when it was logged
        self.rec.set_log_tick_enabled(False)
        self.rec.send_recording_name(name)
        sinks = [rr.FileSink(str(target.save))] if target.save else []
        if target.spawn:
            self.rec.spawn(connect=False)  # a viewer process of its own, reached on its default url below
        url = target.connect or (DEFAULT_VIEWER_URL if target.spawn else None)
        if url:
            sinks.append(rr.GrpcSink(url))
        self.rec.set_sinks(*sinks)
        self.target, self.joint_names, self.jpeg_quality = target, tuple(joint_names), jpeg_quality
        self.with_doubt = with_doubt
        self.problem = ""  # set by close() when the log could not all be delivered
        self.steps = 0  # steps logged (the `step` timeline)
        self.episodes = 0
        self.takeovers = 0
        self.cameras: set[str] = set()
        self._last: tuple[int, bool] | None = None  # (source, intervention) of the previous step in this episode
        self.labels: list[str] = []
        self._blueprint_sent = False
        self.rec.log("control/driver", rr.StateConfiguration(values=list(DRIVERS), colors=list(DRIVER_COLOURS)), static=True)
        self.rec.log("control/intervention", rr.StateConfiguration(values=["intervening", "-"],
                                                                   colors=[DRIVER_COLOURS[1], (60, 60, 60)]), static=True)

    # ------------------------------------------------------------------ the stream
    def begin_episode(self, episode_id: str, task: str = "", kind: str = "", note: str = "",
                      started_at: float | None = None) -> None:
        self.episodes += 1
        self._last = None
        self._at(self.steps, 0, started_at)
        text = f"episode {self.episodes} ({episode_id}) starts: {task or '?'} {kind}".rstrip() + (f", {note}" if note else "")
        self.rec.log("control/events", self.rr.TextLog(text, level="INFO"))

    def end_episode(self, label: str, steps: int | None = None, verdict: str = "", ended_at: float | None = None) -> None:
        if ended_at is not None:
            self.rec.set_time("wall_time", timestamp=ended_at)
        said = f"episode {self.episodes} ends: {label or '?'}" + (f" (the task's check: {verdict})" if verdict and verdict != label else "") \
            + (f", {steps} steps" if steps is not None else "")
        self.rec.log("control/events", self.rr.TextLog(said, level="INFO"))
        self._last = None

    def step(self, s: StepLike) -> None:
        """Log one step at the next position of the `step` timeline."""
        rr, rec = self.rr, self.rec
        if not self._blueprint_sent:
            self._send_blueprint(s)
        self._at(self.steps, int(s.step), float(s.timestamp))
        obs = s.observation
        for key, value in obs.items():
            cam = camera_name(key)
            if cam is not None:
                self._frame(cam, np.asarray(value))
            elif key not in ("joint_pos", "gripper_pos") and np.size(value) <= 16 and np.asarray(value).dtype.kind in "fiub":
                rec.log(f"observation/{key}", rr.Scalars(np.asarray(value, np.float64).ravel()))
        action = np.asarray(s.action, np.float64)
        labels = self.labels if len(self.labels) == len(action) else self._set_labels(len(action))
        position = self._positions(obs, len(action))
        proposed = {"policy": np.asarray(s.policy_action, np.float64), "human": np.asarray(s.human_action, np.float64)}
        for i, label in enumerate(labels):
            rec.log(f"joints/{label}/target", rr.Scalars(action[i]))
            if math.isfinite(position[i]):
                rec.log(f"joints/{label}/position", rr.Scalars(position[i]))
            for who, values in proposed.items():
                if values.shape == action.shape and math.isfinite(values[i]):
                    rec.log(f"joints/{label}/{who}", rr.Scalars(values[i]))
        self._control(int(s.source), bool(s.intervention), int(s.step))
        self.steps += 1

    def doubt(self, value: float) -> None:
        """The policy's doubt now, at the last logged step (live sessions: from the console's status)."""
        self.rec.log("policy/doubt", self.rr.Scalars(float(value)))

    def close(self, timeout_s: float = 10.0) -> str:
        """Flush (waiting at most ``timeout_s`` for a viewer that went away) and finish the file (an
        .rrd is whole only once this returns); what went wrong, if anything, in a line."""
        problem = ""
        try:
            self.rec.flush(timeout_sec=timeout_s)
        except RuntimeError as e:  # a viewer that stopped listening: the file sink is finished regardless
            problem = f"not everything reached {self.target.describe()} within {timeout_s:g} s ({e})"
        self.rec.disconnect()
        return problem

    # ------------------------------------------------------------------ pieces
    def _at(self, step: int, episode_step: int, wall: float | None) -> None:
        self.rec.set_time("step", sequence=step)
        self.rec.set_time("episode_step", sequence=episode_step)
        if wall is not None:
            self.rec.set_time("wall_time", timestamp=wall)

    def _set_labels(self, action_dim: int) -> list[str]:
        self.labels = joint_labels(action_dim, self.joint_names)
        return self.labels

    @staticmethod
    def _positions(obs: Mapping[str, np.ndarray], action_dim: int) -> np.ndarray:
        """Where each action component's joint was: joint_pos, then gripper_pos for the gripper; NaN if unknown."""
        out = np.full(action_dim, np.nan)
        joints = np.asarray(obs.get("joint_pos", ()), np.float64).ravel()[:action_dim]
        out[: len(joints)] = joints
        grip = obs.get("gripper_pos")
        if grip is not None and np.size(grip) and len(joints) < action_dim:
            out[action_dim - 1] = float(np.asarray(grip, np.float64).ravel()[0])
        return out

    def _frame(self, cam: str, value: np.ndarray) -> None:
        rr = self.rr
        self.cameras.add(cam)
        if value.ndim == 1:  # already a JPEG (a file's stored row): logged as it is, no second loss
            self.rec.log(f"cameras/{cam}", rr.EncodedImage(contents=value.tobytes(), media_type="image/jpeg"))
        elif self.jpeg_quality is not None and value.ndim == 3 and value.shape[-1] in (1, 3):
            jpeg = encode_jpeg(value, self.jpeg_quality)
            self.rec.log(f"cameras/{cam}", rr.EncodedImage(contents=jpeg.tobytes(), media_type="image/jpeg"))
        else:
            self.rec.log(f"cameras/{cam}", rr.Image(value))

    def _control(self, source: int, intervention: bool, episode_step: int) -> None:
        """Lanes change only when the driver does; a takeover and a handback are also events."""
        rr, rec = self.rr, self.rec
        last = self._last
        if last is None or last[0] != source:
            rec.log("control/driver", rr.StateChange(state=DRIVERS[source] if 0 <= source < len(DRIVERS) else str(source)))
        if last is None or last[1] != intervention:
            rec.log("control/intervention", rr.StateChange(state="intervening" if intervention else "-"))
            if last is not None:
                self.takeovers += intervention
                what = "TAKEOVER: the person takes control" if intervention else "HANDBACK: the policy drives again"
                rec.log("control/events", rr.TextLog(f"{what} (episode {self.episodes}, step {episode_step})",
                                                     level="WARN" if intervention else "INFO"))
        self._last = (source, intervention)

    def _send_blueprint(self, s: StepLike) -> None:
        """Cameras on top, a plot per joint (target against position), the driver lanes, doubt and events;
        each series in the same colour in every plot (policy and human as in the driver lanes)."""
        rr, bp = self.rr, self.rr.blueprint
        cams = [c for c in map(camera_name, s.observation) if c]
        labels = self._set_labels(len(np.asarray(s.action)))
        for label in labels:
            for role, (colour, width) in SERIES_STYLE.items():
                self.rec.log(f"joints/{label}/{role}", rr.SeriesLines(colors=[colour], widths=[width], names=[role]), static=True)
        self.rec.log("policy/doubt", rr.SeriesLines(colors=[(251, 140, 0)], names=["doubt (rad)"]), static=True)
        joints = [bp.TimeSeriesView(origin=f"joints/{label}", name=label) for label in labels]
        rows = [bp.Horizontal(*[bp.Spatial2DView(origin=f"cameras/{c}", name=c) for c in cams])] if cams else []
        doubt = [bp.TimeSeriesView(origin="policy", name="doubt (rad)")] if self.with_doubt else []
        rows += [bp.Grid(*joints),
                 bp.Horizontal(bp.StateTimelineView(origin="control", name="who drove"), *doubt,
                               bp.TextLogView(origin="control/events", name="events"))]
        self.rec.send_blueprint(bp.Blueprint(bp.Vertical(*rows, row_shares=[3, 4, 2] if cams else [4, 2]),
                                             bp.TimePanel(timeline="step", state="collapsed"), collapse_panels=True))
        self._blueprint_sent = True


# ---------------------------------------------------------------------------------------- files
@dataclass
class FileStep:
    """One row of an episode file, as the live stream's StepRecord would have carried it."""

    step: int
    timestamp: float
    observation: dict[str, np.ndarray]
    action: np.ndarray
    policy_action: np.ndarray
    human_action: np.ndarray
    source: int
    intervention: bool


@dataclass
class FileEpisode:
    """An episode file's facts and a reader of its steps (frames are read a step at a time)."""

    path: Path
    demo: str
    attrs: dict
    env_args: dict
    num_steps: int

    def steps(self) -> Iterator[FileStep]:
        import h5py

        ensure_filters()
        with h5py.File(self.path, "r") as f:
            g = f["data"][self.demo]
            t_count = self.num_steps
            nan = np.full((t_count, g["actions"].shape[1]), np.nan)
            col = {k: (g[k][()] if k in g else None) for k in ("policy_actions", "human_actions", "source", "intervention",
                                                                 "timestamps", "steps")}
            actions = g["actions"][()]
            frames = {k: ds for k, ds in g["obs"].items() if ds.ndim == 4 or is_encoded(ds)}
            lowdim = {k: ds[()] for k, ds in g["obs"].items() if k not in frames}
            encoded = {k: ds[()] for k, ds in frames.items() if is_encoded(ds) and _codec(ds) == "jpeg"}
            for t in range(t_count):
                obs = {k: v[t] for k, v in lowdim.items()}
                obs |= {k: (encoded[k][t] if k in encoded else ds[t]) for k, ds in frames.items()}
                yield FileStep(step=int(col["steps"][t]) if col["steps"] is not None else t,
                               timestamp=float(col["timestamps"][t]) if col["timestamps"] is not None else float(t),
                               observation=obs, action=actions[t],
                               policy_action=(col["policy_actions"] if col["policy_actions"] is not None else nan)[t],
                               human_action=(col["human_actions"] if col["human_actions"] is not None else nan)[t],
                               source=int(col["source"][t]) if col["source"] is not None else 0,
                               intervention=bool(col["intervention"][t]) if col["intervention"] is not None else False)


def _codec(ds: Any) -> str:
    codec = ds.attrs.get(CODEC_ATTR, "")
    return codec.decode() if isinstance(codec, bytes) else str(codec)


def _float(value: Any) -> float | None:
    """An attribute as seconds, None when absent or zero (an export may not carry it)."""
    return float(value) if value else None


def open_episode(path: Path, demo: str | None = None) -> FileEpisode:
    """The episode ``demo`` (default: the first) of an episode or exported file; ValueError saying
    what is wrong with a file that is not one."""
    import h5py

    with h5py.File(path, "r") as f:
        if "data" not in f or not len(f["data"]):
            raise ValueError(f"'{path}' holds no episode (no /data/demo_* group: is it an episode file of this project?)")
        names = sorted(f["data"].keys(), key=lambda s: (len(s), s))
        name = demo or names[0]
        if name not in f["data"]:
            raise ValueError(f"'{path}' has no {name} (has {names})")
        g = f["data"][name]
        if "actions" not in g or "obs" not in g:
            raise ValueError(f"'{path}': {name} has no 'actions' or 'obs'")
        attrs = {k: (v.decode() if isinstance(v, bytes) else v) for k, v in g.attrs.items()}
        env_args = json.loads(f["data"].attrs.get("env_args", "{}") or "{}")
        return FileEpisode(Path(path), name, attrs, env_args, len(g["actions"]))


def log_episode_file(path: Path, target: RerunTarget, demo: str | None = None,
                     jpeg_quality: int | None = 90) -> tuple[FileEpisode, RerunLog]:
    """Log one recorded episode to ``target``; the episode and the (closed) log, which counts what it logged."""
    ep = open_episode(Path(path), demo)
    log = RerunLog(target, name=f"{Path(path).name}:{ep.demo}", jpeg_quality=jpeg_quality, with_doubt=False)
    try:
        seed = ep.env_args.get("seed")
        log.begin_episode(str(ep.attrs.get("episode_id", ep.demo)), str(ep.attrs.get("task", "")), str(ep.attrs.get("kind", "")),
                          note=f"seed {seed}" if seed is not None else "", started_at=_float(ep.attrs.get("started_at")))
        for s in ep.steps():
            log.step(s)
        log.end_episode(str(ep.attrs.get("label", "")), ep.num_steps, str(ep.attrs.get("task_verdict", "")),
                        _float(ep.attrs.get("ended_at")))
    finally:
        log.problem = log.close()
    return ep, log
