"""hgd-bench-fuzz: a hostile-message campaign against a live policy server and a live recorder.

`hgd-serve` and `hgd-record` run as their own processes on loopback. For every message type of the
wire, valid messages are broken in six ways (a header field of the wrong kind or size, a payload
field likewise, an array descriptor with an absurd shape or dtype, frames dropped/added/cut, random
bytes, a non-string type) and sent; the server must answer each with a typed error (or a valid
reply), the recorder must count and skip each. Afterwards a well-formed client must get a correct
chunk and a well-formed episode must be recorded intact. Memory (RSS) of both processes is read
before and after. Prints a table, writes benchmarks/results/fuzz.json.

    hgd-bench-fuzz                      # 100 messages per (type, way), about a minute
    hgd-bench-fuzz --per-kind 500 --seed 3
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import msgpack
import numpy as np

RESULTS = Path("benchmarks") / "results"  # relative to where the benchmark is run (the repository root)
WAYS = ("header_field", "meta_field", "descriptor", "frames", "bytes", "type")
A = 8


def valid_messages() -> list:
    from hgdagger.common import wire

    obs = {"joint_pos": np.zeros(7), "front_rgb": np.zeros((4, 4, 3), np.uint8)}
    nan = np.full(A, np.nan)
    return [
        wire.Hello(client="fuzz"),
        wire.Handshake(chunk_length=16, action_dim=A, control_period=0.05, observation_shapes={"joint_pos": [7]},
                       observation_dtypes={"joint_pos": "<f8"}, checkpoint_id="x"),
        wire.ObsRequest(request_id=1, observation=obs, prefix=np.zeros((16, A), np.float32), frozen_steps=2),
        wire.ChunkReply(request_id=1, actions=np.zeros((16, A), np.float32), checkpoint_id="x"),
        wire.ErrorReply(code="malformed", message="x"),
        wire.ReloadRequest(path="/nonexistent.pt"),
        wire.ReloadReply(ok=True, checkpoint_id="x"),
        wire.StepRecord(step=0, observation=obs, action=np.zeros(A), policy_action=nan, human_action=nan, source=0,
                        intervention=False, timestamp=0.0),
        wire.EpisodeStart(task="fuzz"),
        wire.EpisodeEnd(outcome="success", success=True, num_steps=1),
    ]


def odd_value(rng: np.random.Generator):
    """A value of a kind no field expects, or one out of any range."""
    choices = [None, True, -(2**64) - 1, 2**64 + 7, 2**63, -1, float("nan"), float("inf"), "x" * int(rng.integers(0, 9)),
               b"\x00\xff", [1, 2, 3], {"k": 1}, 1e308, -0.0]
    return choices[int(rng.integers(len(choices)))]


def absurd_shape(rng: np.random.Generator) -> list:
    kind = int(rng.integers(4))
    if kind == 0:
        return [1] * int(rng.integers(9, 80))  # too many dimensions
    if kind == 1:
        return [0, 2**63]  # an empty array with an impossible dimension
    if kind == 2:
        return [-1, 3]
    return [int(rng.integers(2**31, 2**62))]


def hostile(rng: np.random.Generator, msg, way: str) -> list[bytes]:
    """`msg`'s frames, broken in the named way."""
    from hgdagger.common import wire

    frames = [bytes(memoryview(f)) for f in wire.encode(msg, robot_id="fuzz", episode_id="ep")]
    head = msgpack.unpackb(frames[0], raw=False)
    if way == "header_field":
        head["h"][["seq", "send_time", "robot_id", "episode_id", "version"][int(rng.integers(5))]] = odd_value(rng)
    elif way == "type":
        head["h"]["type"] = odd_value(rng)
    elif way == "meta_field" and head["m"]:
        keys = sorted(head["m"])
        head["m"][keys[int(rng.integers(len(keys)))]] = odd_value(rng)
    elif way == "descriptor" and head["a"]:
        desc = head["a"][int(rng.integers(len(head["a"])))]
        part = int(rng.integers(3))
        desc[part] = absurd_shape(rng) if part == 2 else odd_value(rng)
    elif way == "frames":
        cut = int(rng.integers(0, len(frames) + 1))
        extra = [rng.bytes(int(rng.integers(0, 64))) for _ in range(int(rng.integers(0, 3)))]
        return [msgpack.packb(head, use_bin_type=True), *frames[1:cut], *extra]
    elif way == "bytes":
        return [rng.bytes(int(rng.integers(1, 200))) for _ in range(int(rng.integers(1, 4)))]
    return [msgpack.packb(head, use_bin_type=True, default=repr), *frames[1:]]


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def start(args: list[str], log: Path, ready) -> subprocess.Popen:
    """A process whose output goes to a file (a pipe nobody reads would stall it once full)."""
    with open(log, "wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", *args], stdout=out, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and proc.poll() is None:
        if ready():
            return proc
        time.sleep(0.05)
    proc.kill()
    raise RuntimeError(f"{args[0]} did not start: {log.read_text()[-2000:]}")


def campaign(per_kind: int, seed: int, tmp: Path) -> dict:
    import zmq

    from hgdagger.common import wire
    from policy_server.client import ClientConfig, PolicyClient
    from recorder.dataset import read_file

    server_ep, recorder_ep, data = f"ipc://{tmp}/srv", f"ipc://{tmp}/rec", tmp / "data"
    server = start(["hgdagger.cli.serve", "--policy", "toy", "--endpoint", server_ep], tmp / "server.log",
                   lambda: "serving" in (tmp / "server.log").read_text())
    recorder = start(["hgdagger.cli.record", "--endpoint", recorder_ep, "--out", str(data)], tmp / "recorder.log",
                     data.exists)
    ctx = zmq.Context.instance()
    push = ctx.socket(zmq.DEALER)  # the recorder is a ROUTER
    push.connect(recorder_ep)
    rng = np.random.default_rng(seed)
    before = {"server_mb": rss_mb(server.pid), "recorder_mb": rss_mb(recorder.pid)}
    rows = []
    try:
        for msg in valid_messages():
            row = {"type": msg.TYPE, "sent": 0, "typed_errors": 0, "other_replies": 0, "unanswered": 0}
            dealer = ctx.socket(zmq.DEALER)
            dealer.setsockopt(zmq.LINGER, 0)
            dealer.connect(server_ep)
            for way in WAYS:
                for _ in range(per_kind):
                    frames = hostile(rng, msg, way)
                    dealer.send_multipart(frames)
                    push.send_multipart(frames)
                    row["sent"] += 1
                    if dealer.poll(1000):
                        reply = wire.decode(dealer.recv_multipart(copy=False))
                        row["typed_errors" if isinstance(reply, wire.ErrorReply) else "other_replies"] += 1
                    else:
                        row["unanswered"] += 1
            dealer.close()
            rows.append(row)
        alive = {"server": server.poll() is None, "recorder": recorder.poll() is None}
        after = {"server_mb": rss_mb(server.pid), "recorder_mb": rss_mb(recorder.pid)} if all(alive.values()) else {}
        client = PolicyClient(ClientConfig(endpoint=server_ep, request_timeout_s=5))
        client.connect(10)
        chunk = client.predict({"joint_pos": np.zeros(7)}).actions
        client.close()
        nan = np.full(A, np.nan)
        wire.send(push, wire.EpisodeStart(task="after_fuzz", kind="demo"), robot_id="r", episode_id="good")
        for i in range(20):
            wire.send(push, wire.StepRecord(step=i, observation={"joint_pos": np.full(7, float(i))},
                                            action=np.full(A, i / 10), policy_action=nan, human_action=nan, source=0,
                                            intervention=False, timestamp=float(i)), robot_id="r", episode_id="good")
        wire.send(push, wire.EpisodeEnd(outcome="success", success=True, num_steps=20), robot_id="r", episode_id="good")
        intact = False
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not intact:
            for path in data.glob("ep_*.hdf5"):
                (ep,) = read_file(path)
                if ep.attrs.get("task") in ("after_fuzz", b"after_fuzz"):
                    intact = bool(np.array_equal(ep.obs["joint_pos"][:, 0], np.arange(20)))
            time.sleep(0.2)
    finally:
        push.close()
        for proc in (server, recorder):
            proc.terminate()
            proc.wait(20)
    return {"per_kind": per_kind, "seed": seed, "ways": list(WAYS), "rows": rows, "alive": alive, "rss_before": before,
            "rss_after": after, "good_chunk_shape": list(chunk.shape), "good_episode_intact": intact}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="hgd-bench-fuzz", description=__doc__.split("\n\n")[0],
                                epilog=__doc__.split("\n\n", 1)[1], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--per-kind", type=int, default=100, help="messages per (message type, way of breaking it)")
    p.add_argument("--seed", type=int, default=0, help="seed of the broken messages (default: 0)")
    p.add_argument("--out", default=str(RESULTS / "fuzz.json"), help="results JSON (default: %(default)s)")
    args = p.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        res = campaign(args.per_kind, args.seed, Path(tmp))
    print(f"{'type':<14} {'sent':>6} {'typed errors':>13} {'other replies':>14} {'unanswered':>11}")
    for r in res["rows"]:
        print(f"{r['type']:<14} {r['sent']:>6} {r['typed_errors']:>13} {r['other_replies']:>14} {r['unanswered']:>11}")
    b, a = res["rss_before"], res["rss_after"]
    print(f"processes alive afterwards: {res['alive']}; RSS server {b['server_mb']:.0f} -> {a.get('server_mb', float('nan')):.0f} MB, "
          f"recorder {b['recorder_mb']:.0f} -> {a.get('recorder_mb', float('nan')):.0f} MB; a good request got a "
          f"{tuple(res['good_chunk_shape'])} chunk; a good episode recorded intact: {res['good_episode_intact']}")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(res, indent=1))
    ok = all(res["alive"].values()) and res["good_episode_intact"] and all(r["unanswered"] == 0 for r in res["rows"])
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
