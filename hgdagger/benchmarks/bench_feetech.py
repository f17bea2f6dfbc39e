"""Feetech bus benchmark: control steps per second and recovery after bus faults, on the emulator.

Each control step is what the follower driver does every tick: one group sync read of present
position/velocity/load (6 bytes per servo) and one group sync write of goal positions, through the
real feetech-servo-sdk on a real pseudo-terminal, with the emulator as its own process (as servos
are their own hardware). Bus timings: 'pty' (replies as fast as the emulator makes them: the
software ceiling of SDK + pyserial + Python) and '1M' (each reply held for its wire time at
1 Mbaud, the STS3215 default, 10 bits per byte, return delay 0 as the driver sets it).

Recovery, with the loop at 50 Hz and 6 servos (an SO-101): (a) servo 3 vanishes (SIGUSR1 to the
emulator) until the arm holds, then returns until commands resume; (b) every servo power-cycled
(SIGUSR2: torque off, RAM cleared) while the bus is down, back with torque on at the present
position; (c) the whole bus killed (SIGKILL) and restarted at the same link.

Prints tables and writes JSON (default benchmarks/results/feetech.json).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from hgdagger.common.stats import print_table, spread

TIMINGS = {"pty": 0, "1M": 1_000_000}


def wire_bound_hz(servos: int, baud: int) -> float:
    """Steps/s a bus at ``baud`` allows for sync read (6 B each) + sync write (2 B each), bytes only."""
    read_instr = 8 + servos  # FF FF ID LEN INST addr len ids.. sum
    replies = servos * (6 + 6)  # FF FF ID LEN ERR data(6) sum
    write = 8 + servos * 3
    return baud / (10 * (read_instr + replies + write))


def start_emulator(link: Path, servos: int, *extra: str) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-m", "hgdagger.cli.feetech_emulator", "--servos", str(servos), "--link",
                             str(link), "--tau", "0.03", *extra], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    for _ in range(5):
        if proc.stdout.readline().startswith("PORT "):
            return proc
    proc.kill()
    raise RuntimeError("emulator did not start")


def arm(port: str, servos: int, latency_ms: float):
    from teleop.dynamixel.config import BusConfig
    from teleop.feetech.config import FeetechArmConfig, GripperConfig, JointConfig

    joints = [JointConfig(f"j{i}", i, lower=-2.0, upper=2.0) for i in range(1, servos)]
    return FeetechArmConfig("bench", BusConfig(port=port, latency_ms=latency_ms, reconnect_every_s=0.02), joints,
                            GripperConfig(servos, open_ticks=2048, closed_ticks=2848))


def throughput(servos: int, timing: str, steps: int, trials: int, tmp: Path) -> dict:
    from teleop.feetech.follower import FeetechFollower

    link = tmp / f"tp{servos}{timing}"
    proc = start_emulator(link, servos, *(["--baud", str(TIMINGS[timing])] if TIMINGS[timing] else []))
    driver = FeetechFollower(arm(str(link), servos, latency_ms=4.0))
    rates, step_ms, n = [], [], servos - 1
    try:
        for _ in range(trials):
            t_start = time.perf_counter()
            for k in range(steps):
                t0 = time.perf_counter()
                obs = driver.observe()
                driver.command(np.append(np.full(n, 0.3 * np.sin(k / 50)), 0.0))
                step_ms.append((time.perf_counter() - t0) * 1e3)
            rates.append(steps / (time.perf_counter() - t_start))
        retries, faults = driver.health.retries, driver.health.faults
        assert obs["joint_pos"].shape == (n,)
    finally:
        driver.close()
        proc.terminate()
        proc.wait(5)
    return {"servos": servos, "timing": timing, "steps_per_s": spread(rates), "step_ms": spread(step_ms),
            "step_ms_p99": float(np.percentile(step_ms, 99)), "retries": retries, "faults": faults,
            "wire_bound_hz": wire_bound_hz(servos, TIMINGS[timing]) if TIMINGS[timing] else None}


def step(driver, n: int) -> None:
    driver.observe()
    driver.command(np.zeros(n + 1))


def run_until(driver, n: int, period: float, healthy: bool, timeout: float = 5.0) -> float:
    """Step at ``period`` until the driver's health is ``healthy``; seconds it took."""
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        tick = time.monotonic()
        step(driver, n)
        if driver.health.ok == healthy:
            return time.monotonic() - t0
        time.sleep(max(0.0, period - (time.monotonic() - tick)))
    raise RuntimeError(f"driver did not become {'healthy' if healthy else 'faulted'}")


def recovery(servos: int, repeats: int, tmp: Path, period: float = 0.02) -> dict:
    from teleop.feetech.follower import FeetechFollower

    link, n = tmp / "rec", servos - 1
    proc = start_emulator(link, servos, "--vanish-ids", "3")
    driver = FeetechFollower(arm(str(link), servos, latency_ms=1.0))
    detect, back, blip, killed = [], [], [], []
    try:
        for _ in range(repeats):
            os.kill(proc.pid, signal.SIGUSR1)  # servo 3 gone
            proc.stdout.readline()
            detect.append(run_until(driver, n, period, healthy=False))
            time.sleep(0.2)
            os.kill(proc.pid, signal.SIGUSR1)  # back
            proc.stdout.readline()
            back.append(run_until(driver, n, period, healthy=True))
        for _ in range(repeats):  # a power blip: servo 3 gone, every servo rebooted, servo 3 back
            os.kill(proc.pid, signal.SIGUSR1)
            proc.stdout.readline()
            run_until(driver, n, period, healthy=False)
            os.kill(proc.pid, signal.SIGUSR2)
            proc.stdout.readline()
            os.kill(proc.pid, signal.SIGUSR1)
            proc.stdout.readline()
            blip.append(run_until(driver, n, period, healthy=True))
        for _ in range(repeats):
            proc.kill()
            proc.wait()
            run_until(driver, n, period, healthy=False)
            proc = start_emulator(link, servos, "--vanish-ids", "3")
            killed.append(run_until(driver, n, period, healthy=True))
    finally:
        driver.close()
        proc.terminate()
        proc.wait(5)
    return {"servos": servos, "control_hz": 1 / period, "detect_s": spread(detect), "servo_back_s": spread(back),
            "power_blip_s": spread(blip), "bus_restarted_s": spread(killed), "hold_after_steps": 3}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="hgd-bench-feetech", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--servos", default="6", help="servo counts to measure, comma-separated (default 6: an SO-101)")
    p.add_argument("--timings", default="pty,1M", help="bus timings: pty, 1M (default both)")
    p.add_argument("--steps", type=int, default=300, help="control steps per trial (default 300)")
    p.add_argument("--trials", type=int, default=5, help="trials per configuration (default 5)")
    p.add_argument("--repeats", type=int, default=5, help="fault injections per recovery case (default 5)")
    p.add_argument("--json", default="benchmarks/results/feetech.json", help="where to write the results")
    args = p.parse_args(argv)
    results: dict = {"machine": {"platform": platform.platform(), "cpus": os.cpu_count(), "python": platform.python_version()},
                     "throughput": [], "recovery": None}
    with tempfile.TemporaryDirectory() as tmp:
        for servos in (int(s) for s in args.servos.split(",")):
            for timing in args.timings.split(","):
                results["throughput"].append(throughput(servos, timing, args.steps, args.trials, Path(tmp)))
        results["recovery"] = recovery(6, args.repeats, Path(tmp))
    rows = [[r["servos"], r["timing"], f"{r['steps_per_s']['median']:.0f}",
             f"{r['steps_per_s']['p10']:.0f}-{r['steps_per_s']['p90']:.0f}", f"{r['step_ms']['median']:.2f}",
             f"{r['step_ms_p99']:.2f}", f"{r['wire_bound_hz']:.0f}" if r["wire_bound_hz"] else "-", r["retries"]]
            for r in results["throughput"]]
    print("\nFeetech control steps (sync read of position+velocity+load, sync write of goals) on the emulator")
    print_table(["servos", "bus", "steps/s median", "p10-p90", "step ms median", "step ms p99", "wire bound Hz", "retries"], rows)
    rec = results["recovery"]
    print(f"\nrecovery at {rec['control_hz']:.0f} Hz, {rec['servos']} servos, hold after {rec['hold_after_steps']} failed steps "
          f"(median [p10, p90] s over {rec['detect_s']['n']} faults)")
    print_table(["event", "median s", "p10", "p90"], [
        [name, f"{rec[key]['median']:.3f}", f"{rec[key]['p10']:.3f}", f"{rec[key]['p90']:.3f}"]
        for name, key in (("servo vanishes -> arm holds", "detect_s"), ("servo returns -> commands resume", "servo_back_s"),
                          ("power blip (servos rebooted) -> torque back, commands resume", "power_blip_s"),
                          ("bus killed+restarted -> commands resume", "bus_restarted_s"))])
    path = Path(args.json)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(results, indent=2))
    print(f"\nwrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
