"""What every real-arm driver says about episodes: the driver protocol's members that a physical
arm has no opinion on. A real arm has no reset (a person resets the scene), no success check of
its own (the operator's label decides), no step limit and no reward."""

from __future__ import annotations

import numpy as np

from hgdagger.common.types import EpisodeOutcome, Observation


class RealArmEpisodes:
    """Mixin for drivers of physical arms; the class provides ``observe``, ``spec`` and ``cameras``
    (a teleop.cameras.CameraSet or None)."""

    terminated = False
    truncated = False
    reward = 0.0
    outcome = EpisodeOutcome(success=False)

    def reset(self, seed: int | None = None) -> Observation:
        """Nothing moves: the next episode starts where the arm is (``seed`` means nothing here)."""
        return self.observe()

    def camera_ages(self) -> dict[str, float | None]:
        cameras = getattr(self, "cameras", None)
        return cameras.ages() if cameras is not None else {}

    def rest_command(self, obs: Observation) -> np.ndarray:
        """Holding before anything was sent: the measured joints and gripper."""
        return np.append(obs["joint_pos"], obs["gripper_pos"][:1])
