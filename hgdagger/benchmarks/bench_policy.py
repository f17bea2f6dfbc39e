"""Policy speed and accuracy: inference latency per chunk, training throughput, and a comparison of
velocity-network architectures on a synthetic two-mode reaching task with known answers.

For each architecture in --nets:
  1. train a flow policy (H=16, A=8) on `policy_server.synthetic_chunks.reaching` for --steps steps and
     record training throughput (samples/s);
  2. accuracy: mean squared error of sampled chunks to the nearest true mode (normalised units
     are not used: joint radians), and the fraction of samples in the '+' mode (0.5 is right);
  3. latency of one `predict_chunks` call (the default Euler steps) at batch 1 and batch 8, eager and
     torch.compile'd, p50 and p99 over --calls calls after warm-up;
  4. for the first net, where a batch-1 chunk's time goes (`chunk_parts`): observation in, encoder,
     each Euler step, glue, and the torch operations by self time.
With --serve-calls N, also the first net's checkpoint served by hgd-serve (its own process, as
deployed) to a robot asking every --serve-pause-ms: the first reply and p50/p99 of N replies, with
--doubt-samples 0 and 8, on an idle machine and beside --serve-load busy processes. --serve-roots
runs the server from other checkouts too (before/after a change), the client always from this one.
Prints a table and writes JSON to benchmarks/results/bench_policy.json.

    hgd-bench-policy                       # mlp vs unet1d, CPU
    hgd-bench-policy --nets mlp --no-compile --calls 200
    hgd-bench-policy --nets mlp --no-compile --reuse --serve-calls 300 --serve-roots /tmp/before .
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from hgdagger.benchmarks.chunk_parts import chunk_parts, operations, print_parts
from hgdagger.common import threads
from hgdagger.cli.arguments import add_threads_argument
from hgdagger.common.threads import child_env as threads_env
from policy_server import synthetic_chunks as synthetic
from policy_server.model import ModelConfig
from policy_server.networks import NetConfig, count_parameters
from policy_server.policy import FlowPolicy, default_device
from policy_server.train import TrainConfig, train


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--nets", nargs="+", default=["mlp", "unet1d"], help="velocity networks to compare")
    p.add_argument("--steps", type=int, default=1500, help="training steps per architecture")
    p.add_argument("--batch-size", type=int, default=256, help="training batch size (default: 256)")
    p.add_argument("--calls", type=int, default=500, help="timed inference calls per configuration")
    add_threads_argument(p, "inference and training here, and each hgd-serve it starts (for the issue's "
                         "one-thread chunk latency: --threads 1)")
    p.add_argument("--no-compile", action="store_true", help="skip the torch.compile measurements")
    p.add_argument("--device", default="auto", help="auto | cpu | cuda")
    p.add_argument("--out", default="benchmarks/results/bench_policy.json", help="results JSON (default: %(default)s)")
    p.add_argument("--ckpt-dir", default="runs/bench_policy", help="where the trained checkpoints go (default: %(default)s)")
    p.add_argument("--reuse", action="store_true",
                   help="skip training where --ckpt-dir already has a checkpoint (re-measure latency only)")
    p.add_argument("--serve-calls", type=int, default=0, help="replies timed per served configuration (0: skip)")
    p.add_argument("--serve-pause-ms", type=float, default=50.0, help="the robot asks again this long after a reply")
    p.add_argument("--serve-load", type=int, default=2, help="busy processes beside the server in the loaded runs")
    p.add_argument("--serve-roots", nargs="+", default=["."], help="checkouts to run hgd-serve from")
    p.add_argument("--serve-extra", default="", help="more hgd-serve arguments, e.g. '--compile --max-batch 1'")
    return p.parse_args(argv)


def observations(batch: int) -> dict[str, np.ndarray]:
    """A batch of the synthetic task's observations."""
    rng = np.random.default_rng(0)
    return {"joint_pos": rng.uniform(-1, 1, (batch, 7)).astype(np.float32),
            "target_pos": rng.uniform(-1, 1, (batch, 3)).astype(np.float32)}


def latency(policy: FlowPolicy, batch: int, calls: int) -> dict[str, float]:
    """p50/p99/mean milliseconds of one predict_chunks call (warm-up excluded)."""
    obs = observations(batch)
    for _ in range(20):
        policy.predict_chunks(obs)
    times = np.empty(calls)
    sync = torch.cuda.synchronize if policy.device.type == "cuda" else (lambda: None)
    for i in range(calls):
        t = time.perf_counter()
        policy.predict_chunks(obs)
        sync()
        times[i] = (time.perf_counter() - t) * 1e3
    return {"p50_ms": float(np.percentile(times, 50)), "p99_ms": float(np.percentile(times, 99)),
            "mean_ms": float(times.mean())}


def _busy_processes(n: int) -> list[subprocess.Popen]:
    """A busy machine: n processes that spin at normal priority."""
    return [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(n)]


def _hgd_serve(root: str, checkpoint: Path, endpoint: str, threads: int, extra: list[str]) -> tuple[subprocess.Popen, float]:
    """hgd-serve from checkout ``root`` (its own code on the path); return it and its start-up seconds."""
    env = {**threads_env(threads), "PYTHONPATH": str(Path(root).resolve())}
    t0 = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "hgdagger.cli.serve", "--checkpoint", str(checkpoint), "--endpoint",
                             endpoint, "--device", "cpu", "--log-level", "WARNING", *extra],
                            cwd=root, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    if "serving" not in proc.stdout.readline():
        proc.kill()
        raise RuntimeError(f"hgd-serve from {root} did not start")
    return proc, time.perf_counter() - t0


def served_latency(root: str, checkpoint: Path, doubt_samples: int, calls: int, pause_s: float, threads: int,
                   extra: list[str]) -> dict[str, float]:
    """Reply latency as a robot sees it, from hgd-serve in its own process: the first reply after the
    handshake, then p50/p99 over ``calls`` replies; late = past hgd-run's 1 s request timeout."""
    from policy_server.client import ClientConfig, PolicyClient, ServerUnavailable

    obs = {"joint_pos": np.zeros(7), "target_pos": np.full(3, 0.3)}
    with tempfile.TemporaryDirectory() as d:
        srv, startup_s = _hgd_serve(root, checkpoint, f"ipc://{d}/srv", threads,
                                    ["--doubt-samples", str(doubt_samples), *extra])
        client = PolicyClient(ClientConfig(endpoint=f"ipc://{d}/srv", request_timeout_s=120))  # (a compiling first reply)
        try:
            client.connect(30)
            times, doubts, lost = [], [], 0
            for _ in range(calls + 1):
                t = time.perf_counter()
                try:
                    doubts.append(client.predict(obs).doubt)
                    times.append((time.perf_counter() - t) * 1e3)
                except ServerUnavailable:
                    lost += 1
                time.sleep(pause_s)
        finally:
            client.close()
            srv.terminate()
            srv.wait(10)
    rest = np.asarray(times[1:])
    return {"startup_s": startup_s, "first_ms": times[0], "p50_ms": float(np.percentile(rest, 50)),
            "p99_ms": float(np.percentile(rest, 99)), "max_ms": float(rest.max()), "late": int((rest > 1000).sum()) + lost,
            "with_doubt": float(np.mean(np.asarray(doubts) >= 0))}


def served(args: argparse.Namespace, checkpoint: Path) -> list[dict]:
    """Every root x {idle, loaded} x {doubt off, 8 samples}, interleaved so each pair sees the same machine."""
    rows = []
    for load in sorted({0, args.serve_load}):
        hogs = _busy_processes(load)
        try:
            for root in args.serve_roots:
                for doubt in (0, 8):
                    r = served_latency(root, checkpoint, doubt, args.serve_calls, args.serve_pause_ms / 1e3,
                                       args.threads, args.serve_extra.split())
                    rows.append({"root": root, "load": load, "doubt_samples": doubt} | r)
        finally:
            for h in hogs:
                h.kill()
    return rows


def print_served(rows: list[dict], args: argparse.Namespace) -> None:
    print(f"\nhgd-serve reply latency, a robot asking every {args.serve_pause_ms:g} ms, {args.serve_calls} replies, "
          f"{os.cpu_count()} CPUs {args.serve_extra}")
    print(f"{'server from':24s} {'busy':>4s} {'doubt':>5s} {'start s':>8s} {'first ms':>9s} {'p50 ms':>8s} "
          f"{'p99 ms':>8s} {'max ms':>8s} {'late':>5s} {'w/ doubt':>9s}")
    for r in rows:
        print(f"{r['root'][-24:]:24s} {r['load']:4d} {r['doubt_samples']:5d} {r['startup_s']:8.2f} {r['first_ms']:9.1f} "
              f"{r['p50_ms']:8.2f} {r['p99_ms']:8.2f} {r['max_ms']:8.1f} {r['late']:5d} {r['with_doubt']:9.2f}")


class Unbound(torch.nn.Module):
    """A velocity network seen without its sampling fast path (`conditioned`): one full module call
    per Euler step, as before the fast path, so the two can be timed side by side."""

    def __init__(self, net: torch.nn.Module):
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor, t: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        return self.net(x, t, cond)


def accuracy(policy: FlowPolicy, n: int = 256, per_obs: int = 4) -> dict[str, float]:
    rng = np.random.default_rng(123)
    q = rng.uniform(-1, 1, (n, 7)).astype(np.float32)
    tgt = rng.uniform(-1, 1, (n, 3)).astype(np.float32)
    obs = {"joint_pos": np.repeat(q, per_obs, 0), "target_pos": np.repeat(tgt, per_obs, 0)}
    chunks = policy.predict_chunks(obs)
    err, plus = synthetic.nearest_mode_error(chunks, obs["joint_pos"], obs["target_pos"])
    return {"nearest_mode_mse": err, "plus_fraction": plus}


def run(argv: list[str] | None = None) -> dict:
    """Run the benchmark; return the report it writes."""
    args = parse_args(argv)
    args.threads = threads.apply(threads.choose(args.threads), "hgd-bench-policy", say=print).threads
    device = default_device() if args.device == "auto" else torch.device(args.device)
    data = synthetic.reaching(6000, horizon=16, seed=0)
    rows = []
    for net in args.nets:
        cfg = TrainConfig(model=ModelConfig(net=NetConfig(velocity_net=net)), steps=args.steps,
                          batch_size=args.batch_size, val_every=args.steps, ckpt_every=args.steps, device=str(device))
        ck = Path(args.ckpt_dir) / net / "last.pt"
        if args.reuse and ck.exists():
            row = {"net": net, "train_samples_per_s": float("nan"), "val_loss": None}
        else:
            res = train(data, cfg, Path(args.ckpt_dir) / net)
            row = {"net": net, "train_samples_per_s": res.samples_per_s, "val_loss": res.val_loss}
        eager = FlowPolicy.load(ck, device=device)
        row["params"] = count_parameters(eager.model)
        row.update(accuracy(eager))
        unbound = None
        if hasattr(eager.model.velocity, "conditioned"):
            unbound = FlowPolicy.load(ck, device=device)
            unbound.model.velocity = Unbound(unbound.model.velocity)
        for b in (1, 8):  # interleaved, so both see the same machine
            row[f"eager_b{b}"] = latency(eager, b, args.calls)
            if unbound is not None:
                row[f"eager_unbound_b{b}"] = latency(unbound, b, args.calls)
        if not args.no_compile:
            comp = FlowPolicy.load(ck, device=device, compile=True)
            t = time.perf_counter()
            for b in (1, 8):
                comp.predict_chunks({"joint_pos": np.zeros((b, 7), np.float32), "target_pos": np.zeros((b, 3), np.float32)})
            row["compile_s"] = time.perf_counter() - t
            for b in (1, 8):
                row[f"compiled_b{b}"] = latency(comp, b, args.calls)
        rows.append(row)
    l2_cfg = TrainConfig(model=ModelConfig(head="l2", net=NetConfig(velocity_net=args.nets[0])), steps=args.steps,
                         batch_size=args.batch_size, val_every=args.steps, ckpt_every=args.steps, device=str(device))
    l2_ck = Path(args.ckpt_dir) / "l2" / "last.pt"
    if not (args.reuse and l2_ck.exists()):
        train(data, l2_cfg, Path(args.ckpt_dir) / "l2")
    l2 = FlowPolicy.load(l2_ck, device=device)
    l2_acc = accuracy(l2)

    print(f"\nflow policy, H=16, A=8, {ModelConfig().flow_steps} Euler steps, device {device}, {args.threads} thread(s), "
          f"{args.calls} calls")
    hdr = f"{'net':8s} {'params':>8s} {'train smp/s':>11s} {'mode MSE':>9s} {'+ frac':>6s} | " \
          f"{'eager b1 p50/p99':>17s} {'eager b8 p50/p99':>17s} {'comp b1 p50/p99':>16s} {'comp b8 p50/p99':>16s}"
    print(hdr)
    for r in rows:
        def lat(k: str) -> str:
            return f"{r[k]['p50_ms']:.2f}/{r[k]['p99_ms']:.2f} ms" if k in r else "-"
        print(f"{r['net']:8s} {r['params']:8d} {r['train_samples_per_s']:11.0f} {r['nearest_mode_mse']:9.5f} "
              f"{r['plus_fraction']:6.2f} | {lat('eager_b1'):>17s} {lat('eager_b8'):>17s} {lat('compiled_b1'):>16s} "
              f"{lat('compiled_b8'):>16s}")
    for r in rows:
        if "eager_unbound_b1" in r:
            print(f"{r['net']}: sampling with the observation bound once per chunk vs one module call per Euler "
                  f"step (eager p50): b1 {r['eager_b1']['p50_ms']:.2f} vs {r['eager_unbound_b1']['p50_ms']:.2f} ms, "
                  f"b8 {r['eager_b8']['p50_ms']:.2f} vs {r['eager_unbound_b8']['p50_ms']:.2f} ms")
    print(f"L2 baseline ({args.nets[0]} backbone): nearest-mode MSE {l2_acc['nearest_mode_mse']:.5f} (it averages the modes)")
    first = FlowPolicy.load(Path(args.ckpt_dir) / args.nets[0] / "last.pt", device=device)
    parts = {"net": args.nets[0], "median_us": chunk_parts(first, observations(1), args.calls),
             "operations": operations(first, observations(1))}
    print_parts(parts["median_us"], parts["operations"])
    report = {"device": str(device), "threads": args.threads, "cpu": platform.processor() or platform.machine(),
              "torch": torch.__version__, "args": vars(args), "rows": rows, "l2_baseline": l2_acc,
              "chunk_parts": parts}
    if args.serve_calls > 0:
        report["served"] = served(args, Path(args.ckpt_dir) / args.nets[0] / "last.pt")
        print_served(report["served"], args)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2))
    print(f"wrote {out}")
    return report


def main(argv: list[str] | None = None) -> int:
    run(argv)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
