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

ROOT = Path(__file__).resolve().parents[1]


def _server(endpoint: str, *extra: str) -> subprocess.Popen:
    p = subprocess.Popen([sys.executable, "-m", "scripts.serve", "--policy", "toy", "--endpoint", endpoint,
                          "--log-level", "WARNING", *extra], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    if "serving" not in p.stdout.readline():
        raise RuntimeError("server did not start")
    return p


def _run(endpoint: str, hz: float, mode: str, steps: int, realtime: bool, execute_steps: int, records: bool):
    from policy_server.client import ClientConfig
    from sim.driver import SimArmDriver
    from teleop.executor import ExecConfig, Mode
    from teleop.fetcher import ChunkFetcher
    from teleop.runtime import RecordQueue, RobotRuntime, RuntimeConfig

    driver = SimArmDriver(task="pick_place", seed=0, control_hz=hz, max_steps=10 * steps)
    q = RecordQueue(10 * steps) if records else None
    rt = RobotRuntime(driver, ChunkFetcher(ClientConfig(endpoint=endpoint, request_timeout_s=2.0)),
                      RuntimeConfig(execution=ExecConfig(mode=Mode(mode), execute_steps=execute_steps), realtime=realtime), q)
    try:
        rt.start()
        rep = rt.run_episode(steps)
    finally:
        rt.close()
        driver.close()
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


def smoothness(mode: str, delay_ms: float, duration: float, noise: float, hz: float = 50.0) -> dict:
    from common.types import Source
    from common import wire

    with tempfile.TemporaryDirectory() as d:
        ep = f"ipc://{d}/srv"
        srv = _server(ep, "--control-hz", str(hz), "--chunk-length", "32", "--toy-delay-ms", str(delay_ms),
                      "--toy-noise", str(noise))
        try:
            rep, msgs = _run(ep, hz, mode, int(duration * hz), True, 12, True)
        finally:
            srv.kill()
    steps = [m for m in msgs if isinstance(m, wire.StepRecord)]
    pos_b, pos_i, vel_b, vel_i = [], [], [], []
    for t in range(2, len(steps)):
        a, b, c = steps[t - 2], steps[t - 1], steps[t]
        if not all(s.source == Source.POLICY for s in (a, b, c)):
            continue
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
    p.add_argument("--jitter-seconds", type=float, default=10.0)
    p.add_argument("--smooth-seconds", type=float, default=6.0)
    p.add_argument("--noise", type=float, default=0.05, help="std (rad) of the disagreement between successive chunks")
    p.add_argument("--delays", default="0,50,100,200")
    p.add_argument("--skip", choices=["jitter", "smoothness"], default=None)
    args = p.parse_args(argv)
    path = ROOT / "benchmarks" / "results" / "runtime.json"
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
        out["smoothness"] = {}
        print(f"\nchunk-boundary smoothness, 50 Hz, H=32, chunk disagreement {args.noise:g} rad; policy's proposed "
              "commands; max |dq| (rad) and max |d velocity| (rad/s)")
        print(f"{'delay ms':>8s} {'mode':9s}{'pos@bound':>10s}{'pos@in':>9s}{'vel@bound':>10s}{'vel@in':>9s}"
              f"{'bounds':>7s}{'d steps':>8s}{'holds':>6s}")
        for delay in [float(x) for x in args.delays.split(",")]:
            for mode in ("naive", "ensemble", "rtc"):
                s = smoothness(mode, delay, args.smooth_seconds, args.noise)
                out["smoothness"][f"{delay:g}ms_{mode}"] = s
                print(f"{delay:8g} {mode:9s}{s['pos_jump_boundary']:10.4f}{s['pos_jump_inside']:9.4f}"
                      f"{s['vel_jump_boundary']:10.3f}{s['vel_jump_inside']:9.3f}{s['boundaries']:7d}"
                      f"{s['delay_steps_p50']:8.1f}{s['hold_steps']:6d}")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(out, indent=1))
    print(f"\nwrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
