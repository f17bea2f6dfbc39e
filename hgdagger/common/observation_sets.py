"""What a policy is allowed to see, by name: one setting switches a run from privileged simulator
state to what a real arm has (joint encoders, gripper, cameras).

    observation_set("pixels").apply(train_config)   # the policy reads joints, gripper and two cameras

The scripted expert and the simulated supervisor always see the full state; only the policy's
inputs change. A sim driver renders the cameras a set (or a checkpoint) names, at its size.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

import numpy as np

IMAGE_SUFFIX = "_rgb"  # a camera's observation key is <camera>_rgb, (H, W, 3) uint8


@dataclass(frozen=True)
class ObservationSet:
    name: str
    description: str
    lowdim_keys: tuple[str, ...] | None = None  # None: every low-dimensional key of the data
    cameras: tuple[str, ...] = ()
    image_size: tuple[int, int] = (64, 64)  # (height, width) the cameras are rendered at

    @property
    def image_keys(self) -> tuple[str, ...]:
        return tuple(camera + IMAGE_SUFFIX for camera in self.cameras)

    def apply(self, cfg: Any) -> None:
        """Make a training configuration (policy_server.train.TrainConfig, a layer above) read exactly this set."""
        cfg.lowdim_keys = list(self.lowdim_keys) if self.lowdim_keys is not None else None
        cfg.use_images = bool(self.cameras)
        cfg.image_keys = list(self.image_keys) if self.cameras else None


OBSERVATION_SETS: dict[str, ObservationSet] = {
    "state": ObservationSet("state", "every low-dimensional key, the task's state included (object poses: sim only)"),
    "pixels": ObservationSet("pixels", "what a real arm has: joint positions, gripper, front and wrist cameras at 64x64",
                             lowdim_keys=("gripper_pos", "joint_pos"), cameras=("front", "wrist")),
}


def observation_set(name: str) -> ObservationSet:
    """A registered observation set (ValueError naming the choices otherwise)."""
    try:
        return OBSERVATION_SETS[name]
    except KeyError:
        raise ValueError(f"unknown observation set {name!r}; choose from {sorted(OBSERVATION_SETS)}") from None


def cameras_in(shapes: Mapping[str, tuple[int, ...]]) -> tuple[tuple[str, ...], tuple[int, int] | None]:
    """The cameras a policy's observation shapes name, and their common (height, width); ((), None)
    when it reads none. ValueError when its cameras differ in size (a sim renders all at one)."""
    cameras = {k[: -len(IMAGE_SUFFIX)]: tuple(s[:2]) for k, s in shapes.items() if k.endswith(IMAGE_SUFFIX) and is_frame(tuple(s))}
    sizes = set(cameras.values())
    if len(sizes) > 1:
        raise ValueError(f"the policy's cameras differ in size ({cameras}); a simulated arm renders all at one size")
    return tuple(sorted(cameras)), (next(iter(sizes)) if sizes else None)


def is_frame(shape: tuple[int, ...]) -> bool:
    """An (H, W, 3) observation is a camera frame."""
    return len(shape) == 3 and shape[-1] == 3


def fit_frame(frame: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """A camera frame (H, W, 3) as a policy trained at `size` (height, width) expects it: the
    centre cut to the policy's aspect ratio, then shrunk by area averaging (or enlarged
    bilinearly). A real camera gives 480x640; a policy reads, say, 64x64."""
    import cv2

    h, w = frame.shape[:2]
    th, tw = size
    if (h, w) == (th, tw):
        return frame
    if h * tw > w * th:  # taller than the target: cut rows
        keep = max(1, round(w * th / tw))
        top = (h - keep) // 2
        frame = frame[top:top + keep]
    elif h * tw < w * th:  # wider: cut columns
        keep = max(1, round(h * tw / th))
        left = (w - keep) // 2
        frame = frame[:, left:left + keep]
    shrink = frame.shape[0] >= th and frame.shape[1] >= tw
    return cv2.resize(np.ascontiguousarray(frame), (tw, th), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR)


def missing_observations(policy_shapes: Mapping[str, tuple[int, ...]],
                         robot_shapes: Mapping[str, tuple[int, ...]]) -> list[str]:
    """The keys a policy reads that a robot does not give (a camera at another size still fits)."""
    return [k for k in policy_shapes if k not in robot_shapes]
