"""hgd-bench-cameras: control-loop timing with real camera threads, recording on and off.

The real ``RobotRuntime`` (no policy attached: every step holds) drives a small arm defined here
whose ``observe`` returns joint state plus ``CameraSet.newest()``. Two ``CameraStream`` threads
capture 640x480 at 30 fps from a generated MJPG video file (decoded by OpenCV on the camera's
thread, as a USB camera's MJPG stream is; ``--source pattern`` for the generated test image).
With recording on, every step goes RecordQueue -> RecordForwarder (ZeroMQ PUSH) -> an
``hgd-record`` process writing HDF5, as in ``hgd-bench-recorder``'s sustained mode.

Configurations (CAMERAS/RECORDING[/rt]): no cameras, cameras recorded at the capture size
(480x640), cameras recorded at ``--record-size`` (the policy's resolution; each camera thread
resizes), each with recording off and on; and, with recording on, the camera and forwarder threads
under SCHED_FIFO below the loop (``/rt``: their ``rt_priority``). Each run is a fresh process; runs
are interleaved, ``--repeats`` times. ``--baseline DIR`` runs the same configurations against
another checkout too (``git archive REV | tar -x -C DIR``), interleaved with this one; what it
cannot run is left out. A row gives the loop's |period - 20 ms| p50/p99/max as the median over
repeats with [min-max] across them, and the CPU the hypervisor took from this machine meanwhile
(steal: nothing inside can schedule around it), with the p99 of the runs it left alone. Prints a
table, writes benchmarks/results/cameras.json (with each thread's CPU and other processes' CPU).

  hgd-bench-cameras                                     # 8 configurations x 3 repeats x 15 s
  hgd-bench-cameras --baseline /tmp/before --load 2     # against the old code, beside two busy processes
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

from hgdagger.benchmarks.bench_recorder import cpu_seconds, noisy_frames, start_recorder
from hgdagger.common.stats import print_table

RESULTS = Path("benchmarks") / "results"  # relative to where the benchmark is run (the repository root)
HZ = 50.0
CAPTURE = (480, 640)
JOINTS = 6
STEAL_CALM = 1.0  # % of the machine's CPU taken by the hypervisor below which a run counts as undisturbed


@dataclasses.dataclass
class _Health:
    ok: bool = True
    fault: str = ""


@dataclasses.dataclass(frozen=True)
class _Outcome:
    success: bool = False
    failure: str = ""


class CameraArm:
    """A robot driver with nothing slow in it but its cameras: joint state that follows the
    command, and each camera's newest frame."""

    def __init__(self, cameras=None) -> None:
        from hgdagger.common.types import RobotSpec

        self.cameras = cameras
        shapes = {"joint_pos": (JOINTS,), "joint_vel": (JOINTS,), "gripper_pos": (1,)}
        for name, (h, w) in (cameras.shapes() if cameras is not None else {}).items():
            shapes[f"{name}_rgb"] = (h, w, 3)
        self.spec = RobotSpec(name="camera-arm", joint_names=tuple(f"j{i}" for i in range(JOINTS)),
                              joint_lower=np.full(JOINTS, -3.0), joint_upper=np.full(JOINTS, 3.0),
                              max_joint_velocity=np.full(JOINTS, 2.0), control_period=1.0 / HZ,
                              cameras=tuple(cameras.shapes()) if cameras is not None else (),
                              observation_shapes=shapes)
        self.q = np.zeros(JOINTS + 1)
        self.health, self.outcome = _Health(), _Outcome()
        self.terminated = self.truncated = False
        self.reward = 0.0

    def reset(self, seed: int | None = None):
        return self.observe()

    def observe(self):
        obs = {"joint_pos": self.q[:JOINTS].copy(), "joint_vel": np.zeros(JOINTS),
               "gripper_pos": self.q[JOINTS:].copy()}
        if self.cameras is not None:
            obs.update(self.cameras.newest())
        return obs

    def command(self, target: np.ndarray) -> np.ndarray:
        self.q = np.clip(np.asarray(target, np.float64), self.spec.action_lower, self.spec.action_upper)
        return self.q.copy()

    def camera_ages(self) -> dict[str, float | None]:
        return self.cameras.ages() if self.cameras is not None else {}

    def rest_command(self, obs) -> np.ndarray:
        return np.append(obs["joint_pos"], obs["gripper_pos"][:1])

    def hold(self) -> None:
        pass

    def close(self) -> None:
        if self.cameras is not None:
            self.cameras.close()


def write_video(path: Path, seconds: float = 2.0, fps: float = 30.0) -> str:
    """A camera-like MJPG clip (smooth moving scene plus sensor noise) at the capture size."""
    import cv2

    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), fps, CAPTURE[::-1])
    if not writer.isOpened():
        raise RuntimeError(f"OpenCV cannot write MJPG video to {path}")
    for frame in noisy_frames(int(seconds * fps)):
        writer.write(frame)
    writer.release()
    return str(path)


def thread_cpu(tid: int | None) -> float:
    """CPU seconds one thread of this process has used."""
    if tid is None:
        return 0.0
    fields = Path(f"/proc/self/task/{tid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def machine_cpu() -> np.ndarray:
    """(busy, steal, all) jiffies of every CPU together since boot."""
    f = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
    user, nice, system, idle, iowait, irq, softirq, steal = f
    return np.array([user + nice + system + irq + softirq, steal, sum(f)], float)


def make_cameras(source: str, record_size: tuple[int, int] | None, **options):
    """Two 640x480 30 fps cameras; frames at ``record_size`` (None: at the capture size)."""
    from teleop.cameras import CameraConfig, CameraSet

    extra = {"record_size": record_size} if record_size is not None else {}
    cams = CameraSet([CameraConfig(name, source, height=CAPTURE[0], width=CAPTURE[1], fps=30.0, **extra)
                      for name in ("front", "wrist")], **options)
    deadline = time.monotonic() + 5.0
    while any(s.peek() is None for s in cams.streams.values()):
        if time.monotonic() > deadline:
            cams.close()
            raise RuntimeError(f"cameras gave no frame in 5 s: {[s.stats() for s in cams.streams.values()]}")
        time.sleep(0.02)
    return cams


def run_one(cameras: str, recording: bool, seconds: float, source: str, work: Path, realtime: bool,
            helpers_rt: bool = False) -> dict:
    """One configuration, in this process: ``cameras`` is 'none', 'full' or 'HxW' (the record size);
    ``helpers_rt``: the camera and forwarder threads under SCHED_FIFO too, below the loop."""
    import inspect

    from hgdagger.common.record_queue import RecordQueue
    from teleop.cameras import CameraConfig, CameraSet
    from teleop.record_sink import RecordForwarder
    from teleop.runtime import RobotRuntime, RuntimeConfig

    size = None if cameras in ("none", "full") else tuple(int(n) for n in cameras.split("x"))
    if size is not None and "record_size" not in {f.name for f in dataclasses.fields(CameraConfig)}:
        return {"skipped": "this code's cameras have no record_size"}
    if helpers_rt and not all("rt_priority" in inspect.signature(c).parameters for c in (CameraSet, RecordForwarder)):
        return {"skipped": "this code's camera and forwarder threads take no rt_priority"}
    loop_priority = RuntimeConfig().rt_priority
    helper = {"rt_priority": loop_priority - 2} if helpers_rt else {}  # the chunk fetcher's is the loop's - 1
    cams = make_cameras(source, size, **helper) if cameras != "none" else None
    arm = CameraArm(cams)
    proc = fwd = q = None
    out = work / "rec" / "round_0" / "data"
    try:
        if recording:
            endpoint = f"ipc://{work}/cameras.sock"
            proc = start_recorder(out, endpoint)
            bound = time.monotonic() + 20.0
            while not (work / "cameras.sock").exists() and time.monotonic() < bound:
                time.sleep(0.05)  # connect once it listens
            q = RecordQueue(maxsize=2048)
            fwd = RecordForwarder(q, endpoint, **helper)
        rt = RobotRuntime(arm, None, RuntimeConfig(control_hz=HZ, realtime=realtime), records=q)
        rt.run_episode(int(HZ))  # warm-up: the recorder has started, first frames were taken
        time.sleep(1.0)
        named = {t.name: t.native_id for t in threading.enumerate()}
        tids = {"loop": threading.get_native_id(), "forwarder": named.get("hgd-records")}
        tids |= {f"camera {n}": named.get(f"camera-{n}") for n in (cams.streams if cams else ())}
        cpu0 = {k: thread_cpu(t) for k, t in tids.items()}
        own0, rec0, machine0, w0 = cpu_seconds(os.getpid()), cpu_seconds(proc.pid) if proc else 0.0, machine_cpu(), \
            time.monotonic()
        rep = rt.run_episode(int(seconds * HZ))
        wall, (busy, steal, total) = time.monotonic() - w0, machine_cpu() - machine0
        cpu = {k: round(100 * (thread_cpu(t) - cpu0[k]) / wall, 1) for k, t in tids.items()}
        cpu["process"] = round(100 * (cpu_seconds(os.getpid()) - own0) / wall, 1)
        cpu["hgd-record"] = round(100 * (cpu_seconds(proc.pid) - rec0) / wall, 1) if proc else 0.0
        cores = os.cpu_count() or 1
        helpers = {f"camera {n}": st.scheduler for n, st in (cams.streams.items() if cams and helpers_rt else ())}
        if fwd is not None and helpers_rt:
            helpers["forwarder"] = fwd.scheduler
        row = {"cameras": cameras, "recording": recording, "helpers_rt": helpers_rt, "scheduler": rep.scheduler,
               "helpers": helpers, "cpu_percent": cpu,
               "tids": tids, "steal_percent": round(100 * cores * steal / total, 1),
               "others_cpu_percent": round(max(0.0, 100 * cores * busy / total - cpu["process"] - cpu["hgd-record"]),
                                           1),
               "steps": rep.steps, "record_drops": rep.record_drops} | rep.timing
        if cams is not None:
            row["camera_fps"] = [round(s.fps, 1) for s in cams.streams.values()]
            row["frame_shape"] = list(next(iter(cams.streams.values())).peek().image.shape)
        if recording:
            fwd.close(timeout=30.0)
            fwd = None
            deadline = time.monotonic() + 60
            while list(out.glob("*.partial")) and time.monotonic() < deadline:
                time.sleep(0.2)
            proc.send_signal(signal.SIGINT)
            stdout, _ = proc.communicate(timeout=60)
            proc = None
            stats = json.loads(stdout[stdout.index("{"):])
            row["steps_written"] = stats["steps_written"] - int(HZ)  # less the warm-up episode
            row["recorder_error"] = stats["error"]
        return row
    finally:
        if fwd is not None:
            fwd.close(timeout=1.0)
        if proc is not None:
            proc.kill()
            proc.wait()
        arm.close()
        shutil.rmtree(work / "rec", ignore_errors=True)


def run_child(tree: Path, key: str, args, source: str, work: Path) -> dict:
    """``run_one`` in a fresh process whose imports come from ``tree`` (a checkout)."""
    code = (f"import runpy, sys; sys.argv = {[__file__, '--child', key, *child_flags(args, source, work)]!r}; "
            f"runpy.run_path({str(Path(__file__).resolve())!r}, run_name='__main__')")
    out = subprocess.run([sys.executable, "-c", code], cwd=tree, capture_output=True, text=True,
                         timeout=args.camera_seconds + 180)
    lines = [ln for ln in out.stdout.splitlines() if ln.startswith("RESULT ")]
    if out.returncode != 0 or not lines:
        raise RuntimeError(f"run {key} in {tree} failed (exit {out.returncode}):\n{out.stderr[-3000:]}")
    return json.loads(lines[-1][len("RESULT "):])


def child_flags(args, source: str, work: Path) -> list[str]:
    return ["--camera-seconds", str(args.camera_seconds), "--source", source, "--work", str(work)] + \
        (["--no-realtime"] if args.no_realtime else [])


def summarise(rows: list[dict]) -> dict:
    """Median over repeats, with min and max, of each timing figure and of the machine's load."""
    out = {}
    for key in ("jitter_p50_ms", "jitter_p99_ms", "jitter_max_ms", "overruns", "steal_percent", "others_cpu_percent"):
        v = np.array([r[key] for r in rows], float)
        out[key] = {"median": float(np.median(v)), "min": float(v.min()), "max": float(v.max()), "n": len(v)}
    calm = [r["jitter_p99_ms"] for r in rows if r["steal_percent"] < STEAL_CALM]
    out["jitter_p99_ms_without_steal"] = {"median": float(np.median(calm)) if calm else None, "n": len(calm)}
    return out


def print_results(res: dict, args) -> None:
    def cell(s: dict, digits: int = 2) -> str:
        return f"{s['median']:.{digits}f} [{s['min']:.{digits}f}-{s['max']:.{digits}f}]"

    def calm(s: dict) -> str:
        return f"{s['median']:.2f} ({s['n']})" if s["n"] else "- (0)"

    rows = [r for v in res["configs"].values() for r in v["runs"]]
    others = np.median([r["others_cpu_percent"] for r in rows])
    print(f"\nloop period error |period - 20 ms| at 50 Hz under {rows[0]['scheduler']}: the real RobotRuntime, two "
          f"640x480 30 fps cameras ({args.source}), {args.load} busy processes beside it (other processes used "
          f"{others:.0f} % of a CPU, median). Median [min-max] over {args.repeats} runs of "
          f"{args.camera_seconds:.0f} s; "
          f"steal: CPU the hypervisor took from this machine meanwhile")
    table = []
    for name, v in res["configs"].items():
        s, last = v["summary"], v["runs"][-1]
        label, key = name.split(": ")
        cams, rec, *rt = key.split("/")
        frames = {"none": "no cameras", "full": "480x640 (capture size)"}.get(cams, f"{cams} (resized in thread)")
        table.append([label, frames, rec, "SCHED_FIFO" if rt else "normal", cell(s["jitter_p50_ms"]),
                      cell(s["jitter_p99_ms"]), cell(s["jitter_max_ms"]), calm(s["jitter_p99_ms_without_steal"]),
                      cell(s["steal_percent"], 0),
                      f"{last.get('steps_written', '-')}/{last['steps']}" if rec == "on" else "-"])
    print_table(["code", "frames in obs and records", "recording", "camera/forwarder threads", "p50 ms", "p99 ms",
                 "max ms", f"p99 ms, runs with steal < {STEAL_CALM:g} % (n)", "steal %", "written/steps"], table)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="hgd-bench-cameras", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--camera-seconds", type=float, default=15.0, help="seconds of loop per run (default 15)")
    p.add_argument("--repeats", type=int, default=3, help="before/after pairs, interleaved (default: 3)")
    p.add_argument("--record-size", default="96x128", help="HxW the camera threads resize to (default 96x128)")
    p.add_argument("--source", default="video",
                   help="video: a generated MJPG file decoded by OpenCV (default); pattern: the generated test image")
    p.add_argument("--only", action="append", default=[], metavar="CAMERAS/REC",
                   help="run only these configurations, e.g. full/on, 96x128/off, none/on (repeatable)")
    p.add_argument("--baseline", type=Path, default=None, help="another checkout to run the same configurations "
                   "against, interleaved (e.g. the code before a change: git archive HEAD | tar -x -C DIR)")
    p.add_argument("--work", type=Path, default=Path("/tmp"), help="where the recorded files go (default /tmp)")
    p.add_argument("--no-realtime", action="store_true", help="the loop without SCHED_FIFO")
    p.add_argument("--load", type=int, default=0, help="busy processes beside the benchmark, standing in for other "
                   "users of the machine (default 0)")
    p.add_argument("--out", type=Path, default=RESULTS / "cameras.json", help="results JSON (default: %(default)s)")
    p.add_argument("--child", default=None, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.child:
        cams, rec, *rt = args.child.split("/")
        row = run_one(cams, rec == "on", args.camera_seconds, args.source, args.work, not args.no_realtime,
                      helpers_rt=rt == ["rt"])
        print("RESULT " + json.dumps(row))
        return 0
    if args.source not in ("video", "pattern"):
        p.error(f"--source: video or pattern, got {args.source!r}")
    trees = {"this checkout": Path(__file__).resolve().parents[2]}
    if args.baseline:
        trees = {"baseline": args.baseline.resolve()} | trees
    configs = [f"{c}/{r}" for c in ("none", "full", args.record_size) for r in ("off", "on")]
    configs += ["full/on/rt", f"{args.record_size}/on/rt"]
    configs = [k for k in configs if not args.only or k in args.only]
    work = Path(tempfile.mkdtemp(prefix="hgd-bench-cam-", dir=args.work))
    source = write_video(work / "camera.avi") if args.source == "video" else "pattern"
    runs: dict[str, list[dict]] = {}
    skipped: set[str] = set()
    hogs = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(args.load)]
    try:
        for rep in range(args.repeats):
            order = configs[rep % len(configs):] + configs[: rep % len(configs)]  # rotate: no config always first
            for key in order:
                for label, tree in (trees.items() if rep % 2 == 0 else reversed(trees.items())):
                    name = f"{label}: {key}"
                    if name in skipped:
                        continue
                    row = run_child(tree, key, args, source, work)
                    if "skipped" in row:
                        skipped.add(name)
                        continue
                    runs.setdefault(name, []).append(row)
                    print(f"  repeat {rep}: {name:24s} p50 {row['jitter_p50_ms']:.2f}  p99 {row['jitter_p99_ms']:.2f}  "
                          f"max {row['jitter_max_ms']:.2f} ms  steal {row['steal_percent']:.0f} %  others "
                          f"{row['others_cpu_percent']:.0f} %  cpu % {row['cpu_percent']}", flush=True)
    finally:
        for h in hogs:
            h.kill()
            h.wait()
        shutil.rmtree(work, ignore_errors=True)
    res = {"machine": {"cpus": os.cpu_count(), "load_avg": os.getloadavg()},
           "args": {k: str(v) for k, v in vars(args).items()}, "trees": {k: str(v) for k, v in trees.items()},
           "configs": {k: {"summary": summarise(v), "runs": v} for k, v in sorted(runs.items())}}
    print_results(res, args)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(res, indent=1))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
