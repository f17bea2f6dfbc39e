"""A device process for benchmarks: a gamepad-like stream at --rate Hz whose stick changes and whose
takeover button is pressed at random moments (seeded), sent over the real intent socket. With
--leader-pose it streams a leader arm's follower command instead (held at that pose, so it is in
line with a follower holding there), the takeover pressed on a pedal at the same random moments."""

from __future__ import annotations

import argparse
import time

import numpy as np

from teleop.intent import IntentPublisher, TeleopIntent


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--endpoint", required=True)
    p.add_argument("--rate", type=float, default=100.0)
    p.add_argument("--seconds", type=float, default=30.0)
    p.add_argument("--toggle-every", type=float, default=1.0, help="mean seconds between takeover presses")
    p.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    p.add_argument("--leader-pose", default="", help="comma-separated follower command: act as a leader arm held there")
    args = p.parse_args()
    pose = np.array([float(x) for x in args.leader_pose.split(",")]) if args.leader_pose else None
    name = "bench-leader" if pose is not None else "bench-pad"
    rng = np.random.default_rng(args.seed)
    pub = IntentPublisher(args.endpoint, name)
    start = time.monotonic()
    next_press = start + rng.uniform(0.5, 1.5) * args.toggle_every
    twist = np.zeros(5)
    while time.monotonic() - start < args.seconds:
        now = time.monotonic()
        events = []
        if now >= next_press:
            events = ["takeover"]
            next_press = now + rng.uniform(0.5, 1.5) * args.toggle_every
            twist = np.append(rng.uniform(-1, 1, 3) * 0.5, [0.0, 0.0])
        if pose is not None:
            pub.send(TeleopIntent(device=name, events=events, command=pose))
        else:
            pub.send(TeleopIntent(device=name, events=events, twist=twist))
        time.sleep(1.0 / args.rate)
    pub.close()


if __name__ == "__main__":
    main()
