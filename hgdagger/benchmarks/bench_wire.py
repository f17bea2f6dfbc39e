"""hgd-bench-wire: wire overhead against bare ZeroMQ, and 1/4/8 robots sharing one server.

Every server and client runs in its own process (as in deployment), on TCP loopback.
- overhead: observation -> chunk round trip minus the server-reported inference time, for a
  low-dim observation and for one with a 480x640x3 image; beside it, a bare ZeroMQ DEALER/ROUTER
  echo of the same payload sizes (zero-copy multipart) measured in the same run, in alternating
  slices (goal, issue 19: wire <= 2x bare for low-dim requests).
- clients: N robot processes in closed loop against one server whose policy takes a fixed
  10 ms per forward pass whatever the batch (like a GPU); per-request latency and throughput.
Prints a table, writes benchmarks/results/wire.json.
"""

from __future__ import annotations

import argparse
import json
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

RESULTS = Path("benchmarks") / "results"  # relative to where the benchmark is run (the repository root)
IMAGE = (480, 640, 3)


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _stats(ms: list[float]) -> dict[str, float]:
    a = np.asarray(ms)
    return {"n": len(a), "p50": float(np.median(a)), "p10": float(np.percentile(a, 10)),
            "p90": float(np.percentile(a, 90)), "p99": float(np.percentile(a, 99))}


# ------------------------------------------------------------------------ child processes
def echo_server(endpoint: str) -> None:
    """Bare ZeroMQ: answer every multipart request with a 512-byte frame (a 16x8 float32 chunk)."""
    import zmq

    s = zmq.Context.instance().socket(zmq.ROUTER)
    s.bind(endpoint)
    reply = np.zeros((16, 8), np.float32)
    print("ready", flush=True)
    while True:
        frames = s.recv_multipart(copy=False)
        s.send_multipart([frames[0], b"h" * 64, reply], copy=False)


def bare_round_trips(s, n: int, image: bool, warmup: int = 20) -> list[float]:
    """Milliseconds of ``n`` bare ZeroMQ round trips (the same payload sizes as the wire's)."""
    payload = [b"h" * 64, np.zeros(7)] + ([np.zeros(IMAGE, np.uint8)] if image else [])
    out = []
    for i in range(n + warmup):
        t = time.perf_counter()
        s.send_multipart(payload, copy=False)
        s.recv_multipart(copy=False)
        if i >= warmup:
            out.append((time.perf_counter() - t) * 1e3)
    return out


def wire_round_trips(c, n: int, image: bool, warmup: int = 20) -> tuple[list[float], list[float]]:
    """Round-trip and server-reported inference milliseconds of ``n`` requests of a PolicyClient."""
    obs = {"joint_pos": np.zeros(7)}
    if image:
        obs["front_rgb"] = np.zeros(IMAGE, np.uint8)
    rtt, inf = [], []
    for i in range(n + warmup):
        t = time.perf_counter()
        r = c.predict(obs, timeout_s=10)
        if i >= warmup:
            rtt.append((time.perf_counter() - t) * 1e3)
            inf.append(r.inference_ms)
    return rtt, inf


def wire_client(endpoint: str, n: int, image: bool, duration: float = 0.0) -> dict:
    from policy_server.client import ClientConfig, PolicyClient

    c = PolicyClient(ClientConfig(endpoint=endpoint, request_timeout_s=10))
    c.connect(10)
    obs = {"joint_pos": np.zeros(7)}
    if image:
        obs["front_rgb"] = np.zeros(IMAGE, np.uint8)
    rtt, inf, batch = [], [], []
    t_end = time.monotonic() + duration
    i = 0
    while (i < n + 20) if not duration else time.monotonic() < t_end:
        t = time.perf_counter()
        r = c.predict(obs, timeout_s=10)
        if i >= 20 or duration:
            rtt.append((time.perf_counter() - t) * 1e3)
            inf.append(r.inference_ms)
            batch.append(r.batch_size)
        i += 1
    c.close()
    return {"rtt": rtt, "inf": inf, "batch": batch}


def _child(argv: list[str]) -> None:
    kind = argv[0]
    if kind == "echo":
        echo_server(argv[1])
    elif kind == "client":
        endpoint, duration = argv[1], float(argv[2])
        print(json.dumps(wire_client(endpoint, 0, False, duration)), flush=True)


# ------------------------------------------------------------------------ orchestration
def _spawn(args: list[str]) -> subprocess.Popen:
    p = subprocess.Popen([sys.executable, *args], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    line = p.stdout.readline()
    if not line:
        raise RuntimeError(f"{args} did not start")
    return p


def _server(port: int, *extra: str) -> subprocess.Popen:
    # --no-realtime: the bare ZeroMQ echo it is compared with runs under the normal scheduler too
    return _spawn(["-m", "hgdagger.cli.serve", "--policy", "toy", "--endpoint", f"tcp://127.0.0.1:{port}",
                   "--log-level", "WARNING", "--no-realtime", *extra])


def overhead(n: int, rounds: int = 10) -> dict:
    """Wire vs bare ZeroMQ, side by side: both servers up at once and ``rounds`` alternating slices of
    round trips, so a busy moment of the machine lands on both (not on whichever ran second)."""
    import zmq

    from policy_server.client import ClientConfig, PolicyClient

    ports = {"echo": _port(), "lowdim": _port(), "image": _port()}
    procs = [_spawn(["-m", "hgdagger.benchmarks.bench_wire", "--child", "echo", f"tcp://127.0.0.1:{ports['echo']}"]),
             _server(ports["lowdim"]), _server(ports["image"], "--toy-image", "480x640")]
    samples: dict[str, list[float]] = {k: [] for k in ("bare_lowdim", "bare_image", "wire_lowdim", "wire_image",
                                                       "wire_lowdim_inference", "wire_image_inference")}
    try:
        bare = zmq.Context.instance().socket(zmq.DEALER)
        bare.connect(f"tcp://127.0.0.1:{ports['echo']}")
        robots = {}
        for kind in ("lowdim", "image"):
            robots[kind] = PolicyClient(ClientConfig(endpoint=f"tcp://127.0.0.1:{ports[kind]}", request_timeout_s=10))
            robots[kind].connect(10)
        for r in range(rounds):
            for kind in ("lowdim", "image"):
                image = kind == "image"
                per_round = max(1, (n if not image else n // 2) // rounds)
                samples[f"bare_{kind}"] += bare_round_trips(bare, per_round, image, warmup=20 if r == 0 else 2)
                rtt, inf = wire_round_trips(robots[kind], per_round, image, warmup=20 if r == 0 else 2)
                samples[f"wire_{kind}"] += [a - b for a, b in zip(rtt, inf)]
                samples[f"wire_{kind}_inference"] += inf
        for c in robots.values():
            c.close()
        bare.close(0)
    finally:
        for p in procs:
            p.kill()
    return {k: _stats(v) for k, v in samples.items()}


def clients(counts: list[int], duration: float, delay_ms: float) -> dict:
    res = {}
    for n in counts:
        port = _port()
        srv = _server(port, "--toy-delay-ms", str(delay_ms), "--max-batch", "8")
        try:
            procs = [subprocess.Popen([sys.executable, "-m", "hgdagger.benchmarks.bench_wire", "--child", "client",
                                       f"tcp://127.0.0.1:{port}", str(duration)], stdout=subprocess.PIPE, text=True)
                     for _ in range(n)]
            outs = [json.loads(p.communicate(timeout=duration + 60)[0]) for p in procs]
        finally:
            srv.kill()
        rtt = [x for o in outs for x in o["rtt"]]
        batch = [x for o in outs for x in o["batch"]]
        res[str(n)] = _stats(rtt) | {"throughput_rps": len(rtt) / duration, "mean_batch": float(np.mean(batch))}
    return res


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="hgd-bench-wire", description=__doc__.split("\n\n")[0],
                                epilog="Writes benchmarks/results/wire.json.")
    p.add_argument("--n", type=int, default=400, help="round trips per low-dim measurement (image: half)")
    p.add_argument("--clients", default="1,4,8", help="client counts, comma-separated (default: %(default)s)")
    p.add_argument("--duration", type=float, default=5.0, help="seconds per client-count run")
    p.add_argument("--delay-ms", type=float, default=10.0, help="the served policy's time per forward pass")
    p.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.child:
        _child(args.child)
        return 0
    over = overhead(args.n)
    cl = clients([int(x) for x in args.clients.split(",")], args.duration, args.delay_ms)
    print("\nwire overhead (round trip minus inference), TCP loopback, ms")
    print(f"{'':22s}{'p50':>8s}{'p10':>8s}{'p90':>8s}{'p99':>8s}")
    for k in ("bare_lowdim", "wire_lowdim", "bare_image", "wire_image"):
        s = over[k]
        print(f"{k:22s}{s['p50']:8.3f}{s['p10']:8.3f}{s['p90']:8.3f}{s['p99']:8.3f}")
    for k in ("lowdim", "image"):
        print(f"ratio wire/bare {k:6s}: {over['wire_' + k]['p50'] / over['bare_' + k]['p50']:.2f}x")
    print(f"\n{args.delay_ms:g} ms policy, N robot processes in closed loop, {args.duration:g} s each")
    print(f"{'clients':>8s}{'lat p50':>10s}{'p10':>8s}{'p90':>8s}{'p99':>8s}{'req/s':>9s}{'batch':>7s}")
    for n, s in cl.items():
        print(f"{n:>8s}{s['p50']:10.2f}{s['p10']:8.2f}{s['p90']:8.2f}{s['p99']:8.2f}{s['throughput_rps']:9.1f}{s['mean_batch']:7.2f}")
    out = RESULTS / "wire.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"overhead_ms": over, "clients": cl, "policy_delay_ms": args.delay_ms,
                               "cpu_count": __import__("os").cpu_count()}, indent=1))
    print(f"\nwrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
