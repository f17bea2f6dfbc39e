"""The sim's scripted expert served behind the ChunkPolicy protocol, so the whole path (server,
wire, runtime, recorder) runs end to end before any learned policy exists.

An expert maps one observation to one action; a chunk needs H. Repeating that action H times
would make the arm reach the expert's one-step "carrot" and stop until the next chunk, so the arm
would crawl at 1/k speed. Rolling a full copy of the simulator forward is not possible either: an
observation does not hold the whole physical state (contacts, velocities of every body). So the
expert is rolled forward on a *kinematic* model of its own consequences: after each action the
joints are assumed to reach their targets, the gripper pose follows by forward kinematics, and
an object held between closed fingers moves with the gripper; everything else stays put. The
closed loop is restored every time the runtime sends a fresh observation (every k steps), which
is exactly how a chunked policy behaves.
"""

from __future__ import annotations

from typing import Mapping

import numpy as np

from hgdagger.common.types import PolicyInfo

_NOT_OBJECTS = {"joint_pos", "joint_vel", "gripper_pos", "ee_pos", "ee_quat"}
HOLD_RADIUS = 0.03  # an object this close to the gripper centre, fingers closing: it is carried
CLOSED_ENOUGH = 0.05


class ExpertChunkPolicy:
    """Serve ``sim.make_expert(task)`` as (B, H, 8) chunks via a kinematic rollout."""

    supports_prefix = False

    def __init__(self, task: str = "pick_place", chunk_length: int = 16, control_hz: float = 20.0,
                 seed: int | None = 0, observation_keys: tuple[str, ...] | None = None) -> None:
        import sim
        from sim import arm
        from sim.kinematics import ArmKinematics
        from sim.scene import load_model
        from sim.tasks.base import canonical_gripper_quat

        self._canonical = canonical_gripper_quat

        self.task = task
        self.expert = sim.make_expert(task, control_hz=control_hz, seed=seed)
        self.expert.reset(seed)
        self.kin = ArmKinematics(load_model(), arm.TCP_SITE, arm.JOINT_NAMES)
        env = sim.make_env(task, control_hz=control_hz)
        shapes = {k: tuple(s.shape) for k, s in env.observation_space.spaces.items()}
        env.close()
        if observation_keys is not None:
            shapes = {k: shapes[k] for k in observation_keys}
        self.info = PolicyInfo(chunk_length=chunk_length, action_dim=len(arm.JOINT_NAMES) + 1,
                               control_period=1.0 / control_hz, observation_shapes=shapes,
                               checkpoint_id=f"expert:{task}", checkpoint_hash="scripted", normalization_hash="none")

    def rollout(self, obs: Mapping[str, np.ndarray]) -> np.ndarray:
        """H expert actions from one observation, on the kinematic model described above."""
        o = {k: np.array(v, dtype=np.float64) for k, v in obs.items()}
        H = self.info.chunk_length
        out = np.empty((H, self.info.action_dim))
        for h in range(H):
            a = np.asarray(self.expert.act(o), np.float64)
            out[h] = a
            tcp_before = o["ee_pos"].copy()
            carried = [k for k, v in o.items() if k.endswith("_pos") and k not in _NOT_OBJECTS
                       and not k.startswith("target") and v.shape == (3,)
                       and o["gripper_pos"][0] > CLOSED_ENOUGH and np.linalg.norm(v - tcp_before) < HOLD_RADIUS]
            o["joint_pos"] = a[:-1].copy()
            pos, quat = self.kin.site_pose(o["joint_pos"])
            o["ee_pos"], o["ee_quat"] = pos, self._canonical(quat)
            for k in carried:
                o[k] = o[k] + (pos - tcp_before)
        return out

    def predict_chunks(self, observations, prefix=None, frozen_steps=None) -> np.ndarray:
        B = next(iter(observations.values())).shape[0]
        return np.stack([self.rollout({k: v[b] for k, v in observations.items()}) for b in range(B)])
