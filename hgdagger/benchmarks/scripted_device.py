"""A device process for benchmarks: a gamepad-like stream at --rate Hz whose stick changes and whose
takeover button is pressed at random moments (seeded), sent over the real intent socket."""

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
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()
    rng = np.random.default_rng(args.seed)
    pub = IntentPublisher(args.endpoint, "bench-pad")
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
        pub.send(TeleopIntent(device="bench-pad", events=events, twist=twist))
        time.sleep(1.0 / args.rate)
    pub.close()


if __name__ == "__main__":
    main()
