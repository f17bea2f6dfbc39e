"""What a skilled operator's hands would do, for rehearsing without hardware: the scripted expert's
joint trajectory, played back by a simulated leader arm (`hgd-rehearse`)."""

from __future__ import annotations

import numpy as np

from sim.registry import make_env, make_expert


def expert_joint_trajectory(task: str, seed: int, steps: int, control_hz: float):
    """The scripted expert's joint trajectory on a shadow copy of the task, as a function of time
    (t = 0: the arm's initial pose): what a skilled operator's hands would do with the leader arm."""
    env = make_env(task, control_hz=control_hz)
    expert = make_expert(task, control_hz=control_hz)
    obs, _ = env.reset(seed=seed)
    expert.reset(seed)
    actions = [np.append(obs["joint_pos"], 0.0)]  # where the hands start: the arm's initial pose
    for _ in range(steps):
        action = expert.act(obs)
        actions.append(action)
        obs, _, terminated, truncated, _ = env.step(action)
        if terminated or truncated:
            break
    env.close()
    track = np.array(actions)

    def at(t: float) -> np.ndarray:
        return track[min(int(t * control_hz), len(track) - 1)]

    return at, len(track)



class ExpertHands:
    """A skilled operator's hands on a leader arm, simulated closed loop: first they keep the leader in
    line with the follower as they see it (with an initial misalignment that shrinks over
    ``settle_s``); once the follower is theirs (``in_control()``) they do the task as the scripted
    expert would from what the follower last observed. Returns follower commands (joints + gripper); ``elapsed`` is the time
    since the episode began."""

    def __init__(self, expert, observation, in_control, offset: np.ndarray, settle_s: float):
        import time

        self._clock = time.monotonic
        self.expert, self.observation, self.in_control = expert, observation, in_control
        self.offset, self.settle_s = np.asarray(offset, float), settle_s
        self.reset()

    def reset(self, seed: int | None = None, first: dict | None = None) -> None:
        """A new episode starting from observation ``first`` (where the leader must be brought to)."""
        self.expert.reset(seed)
        self.t0 = self._clock()
        self.initial = None if first is None else np.append(first["joint_pos"], first["gripper_pos"][:1])
        self.doing_task = False

    @property
    def elapsed(self) -> float:
        return self._clock() - self.t0

    def __call__(self) -> np.ndarray | None:
        self.doing_task = self.doing_task or bool(self.in_control())
        obs = self.observation()
        if not self.doing_task:  # follow the follower by eye (a policy may be moving it), converging
            shrink = max(0.0, 1.0 - self.elapsed / self.settle_s) if self.settle_s > 0 else 0.0
            pose = np.append(obs["joint_pos"], obs["gripper_pos"][:1]) if obs else self.initial
            return None if pose is None else pose + self.offset * shrink
        return np.asarray(self.expert.act(obs), float) if obs else None


def emulated_leader(arm, calibration, hands, refresh_s: float = 0.005):
    """A Dynamixel leader arm on a pty (``teleop.dynamixel.emulator``) whose horns the simulated hands
    move: each torque-off servo reports the raw angle that, through ``calibration``, reads as the
    hands' follower command. Read it with the real leader driver, exactly as the hardware."""
    from teleop.dynamixel.emulator import EmulatedServo, PtyBus, ServoChain

    latest: dict = {"at": -1.0, "raw": None}

    def raw_at(now: float):
        if latest["raw"] is None or now - latest["at"] >= refresh_s:
            command = hands()
            if command is not None:
                latest["raw"] = calibration.to_leader(command)
            latest["at"] = now
        return latest["raw"]

    servos = []
    for k, (servo_id, model) in enumerate(arm.models().items()):
        servo = EmulatedServo(servo_id, model)
        half, per_rad = model.resolution / 2, model.resolution / (2 * np.pi)

        def hand(now: float, k=k, servo=servo, half=half, per_rad=per_rad) -> float:
            raw = raw_at(now)
            return servo.position if raw is None else half + float(raw[k]) * per_rad

        servo.hand = hand
        servos.append(servo)
    return PtyBus(ServoChain(servos))
