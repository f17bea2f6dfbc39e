"""hgd-bench-runtime: loop period jitter, and chunk-boundary smoothness under inference delay.

Both run the real runtime on the MuJoCo arm with the policy server in its own process on the
same machine (the toy policy: a smooth planner from the observed joint positions).
- jitter: at 50 and 100 Hz, with SCHED_FIFO (when permitted) and under the normal scheduler;
  |tick-to-tick period - nominal| p50/p99/max.
- smoothness: 50 Hz, H=32, a server whose successive chunks disagree (per-call random offset,
  std --noise rad) and an injected inference delay of 0/50/100/200 ms; for naive switching,
  temporal ensembling (ACT) and real-time chunking, the largest joint position jump (rad) and
  velocity jump (rad/s) of the policy's proposed commands at chunk boundaries and inside chunks.
Prints tables, writes benchmarks/results/runtime.json.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

RESULTS = Path("benchmarks") / "results"  # relative to where the benchmark is run (the repository root)


def _server(endpoint: str, *extra: str) -> subprocess.Popen:
    policy = [] if "--checkpoint" in extra else ["--policy", "toy"]
    p = subprocess.Popen([sys.executable, "-m", "hgdagger.cli.serve", *policy, "--endpoint", endpoint, "--device", "cpu",
                          "--log-level", "WARNING", *extra], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    if "serving" not in p.stdout.readline():
        raise RuntimeError("server did not start")
    return p


def _run(endpoint: str, hz: float, mode: str, steps: int, realtime: bool, execute_steps: int, records: bool,
         task: str = "pick_place"):
    """Run episodes back to back (resetting the arm) until ``steps`` control steps have run."""
    from policy_server.client import ClientConfig
    from sim.driver import SimArmDriver
    from teleop.executor import ExecConfig, Mode
    from teleop.fetcher import ChunkFetcher
    from hgdagger.common.record_queue import RecordQueue
    from teleop.runtime import RobotRuntime, RuntimeConfig

    driver = SimArmDriver(task=task, seed=0, control_hz=hz, max_steps=max(steps, 200))
    q = RecordQueue(10 * steps) if records else None
    rt = RobotRuntime(driver, ChunkFetcher(ClientConfig(endpoint=endpoint, request_timeout_s=2.0)),
                      RuntimeConfig(execution=ExecConfig(mode=Mode(mode), execute_steps=execute_steps), realtime=realtime), q)
    reps, done = [], 0
    try:
        rt.start()
        while done < steps:
            driver.reset(len(reps))
            reps.append(rt.run_episode(steps - done))
            done += reps[-1].steps
    finally:
        rt.close()
        driver.close()
    rep = reps[0]
    for r in reps[1:]:
        rep.hold_steps += r.hold_steps
        rep.policy_steps += r.policy_steps
        rep.delays_steps += r.delays_steps
    return rep, (q.drain() if q else [])


def jitter(hz: float, realtime: bool, duration: float) -> dict:
    with tempfile.TemporaryDirectory() as d:
        ep = f"ipc://{d}/srv"
        srv = _server(ep, "--control-hz", str(hz), "--toy-delay-ms", "5")
        try:
            rep, _ = _run(ep, hz, "rtc", int(duration * hz), realtime, 8, False)
        finally:
            srv.kill()
    return rep.timing | {"scheduler": rep.scheduler, "hold_steps": rep.hold_steps}


def smoothness(mode: str, delay_ms: float, duration: float, noise: float, hz: float = 50.0,
               checkpoint: str | None = None, task: str = "reach") -> dict:
    from hgdagger.common.types import Source
    from hgdagger.common import wire

    with tempfile.TemporaryDirectory() as d:
        ep = f"ipc://{d}/srv"
        if checkpoint:  # a trained flow policy: its own sampler, its own RTC inpainting
            srv = _server(ep, "--checkpoint", checkpoint, "--inject-delay-ms", str(delay_ms))
            run = dict(execute_steps=8, task=task)
        else:
            srv = _server(ep, "--control-hz", str(hz), "--chunk-length", "32", "--toy-delay-ms", str(delay_ms),
                          "--toy-noise", str(noise))
            run = dict(execute_steps=12, task="pick_place")
        try:
            rep, msgs = _run(ep, hz, mode, int(duration * hz), True, records=True, **run)
        finally:
            srv.kill()
    steps = [m for m in msgs if isinstance(m, wire.StepRecord)]
    pos_b, pos_i, vel_b, vel_i = [], [], [], []
    for t in range(2, len(steps)):
        a, b, c = steps[t - 2], steps[t - 1], steps[t]
        if not all(s.source == Source.POLICY for s in (a, b, c)) or not c.step == b.step + 1 == a.step + 2:
            continue  # holds, and the seams between episodes, are not chunk boundaries
        dq = np.abs(c.policy_action[:-1] - b.policy_action[:-1]).max()
        ddq = np.abs(c.policy_action[:-1] - 2 * b.policy_action[:-1] + a.policy_action[:-1]).max() * hz
        (pos_b if c.chunk_id != b.chunk_id else pos_i).append(dq)  # q_t - q_{t-1} spans a switch
        (vel_b if not a.chunk_id == b.chunk_id == c.chunk_id else vel_i).append(ddq)  # so does any 2nd difference touching it
    f = lambda x: float(max(x)) if x else float("nan")  # noqa: E731
    return {"pos_jump_boundary": f(pos_b), "pos_jump_inside": f(pos_i), "vel_jump_boundary": f(vel_b),
            "vel_jump_inside": f(vel_i), "boundaries": len(pos_b), "hold_steps": rep.hold_steps,
            "delay_steps_p50": float(np.median(rep.delays_steps)) if rep.delays_steps else float("nan"),
            "policy_steps": rep.policy_steps}


def main(argv: list[str] | None = None) -> int:
    os.environ.setdefault("MUJOCO_GL", "egl")
    p = argparse.ArgumentParser(prog="hgd-bench-runtime", description=__doc__.split("\n\n")[0],
                                epilog="Writes benchmarks/results/runtime.json.")
    p.add_argument("--jitter-seconds", type=float, default=10.0, help="seconds of loop timing per configuration (default: 10)")
    p.add_argument("--smooth-seconds", type=float, default=6.0, help="seconds of chunk-boundary smoothness per delay (default: 6)")
    p.add_argument("--noise", type=float, default=0.05, help="std (rad) of the disagreement between successive chunks")
    p.add_argument("--delays", default="0,50,100,200", help="injected server delays in ms, comma-separated (default: %(default)s)")
    p.add_argument("--skip", choices=["jitter", "smoothness"], default=None, help="leave out one part")
    p.add_argument("--checkpoint", default=None,
                   help="smoothness with this trained flow checkpoint (and its RTC inpainting) instead of the toy planner")
    p.add_argument("--task", default="reach", help="sim task the checkpoint was trained on (default: reach)")
    p.add_argument("--hz", type=float, default=None, help="control rate for --checkpoint (default: 20)")
    args = p.parse_args(argv)
    path = RESULTS / "runtime.json"
    out: dict = json.loads(path.read_text()) if path.exists() and args.skip else {}  # --skip keeps the other half
    out["cpu_count"] = os.cpu_count()
    if args.skip != "jitter":
        out["jitter"] = {}
        print(f"\nloop period jitter, |period - nominal| in ms, {args.jitter_seconds:g} s per row, server on this machine")
        print(f"{'rate':>6s} {'scheduler':28s}{'p50':>8s}{'p99':>8s}{'max':>8s}{'rate Hz':>9s}{'overruns':>9s}")
        for hz in (50.0, 100.0):
            for rt in (True, False):
                j = jitter(hz, rt, args.jitter_seconds)
                out["jitter"][f"{hz:g}Hz_{'rt' if rt else 'normal'}"] = j
                print(f"{hz:6g} {j['scheduler'][:27]:28s}{j['jitter_p50_ms']:8.3f}{j['jitter_p99_ms']:8.3f}"
                      f"{j['jitter_max_ms']:8.3f}{j['rate_hz']:9.2f}{j['overruns']:9d}")
    if args.skip != "smoothness":
        key = "smoothness_flow" if args.checkpoint else "smoothness"
        hz = args.hz or (20.0 if args.checkpoint else 50.0)
        out[key] = {}
        what = (f"flow checkpoint {Path(args.checkpoint).name} on {args.task}, {hz:g} Hz" if args.checkpoint else
                f"toy planner, 50 Hz, H=32, chunk disagreement {args.noise:g} rad")
        print(f"\nchunk-boundary smoothness, {what}; policy's proposed commands; max |dq| (rad), max |d velocity| (rad/s)")
        print(f"{'delay ms':>8s} {'mode':9s}{'pos@bound':>10s}{'pos@in':>9s}{'vel@bound':>10s}{'vel@in':>9s}"
              f"{'bounds':>7s}{'d steps':>8s}{'holds':>6s}")
        for delay in [float(x) for x in args.delays.split(",")]:
            for mode in ("naive", "ensemble", "rtc"):
                s = smoothness(mode, delay, args.smooth_seconds, args.noise, hz, args.checkpoint, args.task)
                out[key][f"{delay:g}ms_{mode}"] = s
                print(f"{delay:8g} {mode:9s}{s['pos_jump_boundary']:10.4f}{s['pos_jump_inside']:9.4f}"
                      f"{s['vel_jump_boundary']:10.3f}{s['vel_jump_inside']:9.3f}{s['boundaries']:7d}"
                      f"{s['delay_steps_p50']:8.1f}{s['hold_steps']:6d}")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(out, indent=1))
    print(f"\nwrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
