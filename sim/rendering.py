"""Headless rendering: pick a working OpenGL backend once, then render named cameras to uint8 arrays."""

from __future__ import annotations

import ctypes.util
import os

import numpy as np

_BACKENDS = ("egl", "osmesa")
_LIBRARIES = {"egl": ("EGL",), "osmesa": ("OSMesa",)}


def select_gl_backend() -> str | None:
    """Set MUJOCO_GL to a headless backend whose library exists, unless the user already chose one.

    Headless even on a desktop: offscreen frames are rendered on camera threads (the twin's views),
    and a GLFW context on a thread other than the main one takes the process down on X
    (BadWindow). The interactive viewer opens its own window either way. Must run before ``mujoco``
    creates its first context. Returns the backend in force (None: neither EGL nor OSMesa is
    installed, so MuJoCo's default GLFW is used).
    """
    chosen = os.environ.get("MUJOCO_GL")
    if chosen:
        return chosen
    for backend in _BACKENDS:
        if any(ctypes.util.find_library(lib) for lib in _LIBRARIES[backend]):
            os.environ["MUJOCO_GL"] = backend
            os.environ.setdefault("PYOPENGL_PLATFORM", backend)
            return backend
    return None


class RenderError(RuntimeError):
    """Rendering is unavailable: the message says what to install."""


class CameraRenderer:
    """Renders named cameras of one model at one image size, reusing a single GL context."""

    def __init__(self, model, height: int, width: int):
        import mujoco

        if height > model.vis.global_.offheight or width > model.vis.global_.offwidth:
            raise ValueError(
                f"image size {height}x{width} exceeds the model's offscreen buffer "
                f"{model.vis.global_.offheight}x{model.vis.global_.offwidth}"
            )
        try:
            self._renderer = mujoco.Renderer(model, height, width)
        except Exception as exc:  # the GL stack's own errors are cryptic
            raise RenderError(
                f"could not create an OpenGL context for rendering (MUJOCO_GL={os.environ.get('MUJOCO_GL')}): "
                f"{exc}. Headless rendering needs EGL (apt-get install libegl1 libegl-mesa0 libgl1-mesa-dri) "
                "or OSMesa (apt-get install libosmesa6)."
            ) from exc
        self.height = height
        self.width = width

    def render(self, data, camera: str) -> np.ndarray:
        """One RGB frame (height, width, 3) uint8 from the named camera."""
        self._renderer.update_scene(data, camera=camera)
        return self._renderer.render()

    def close(self) -> None:
        self._renderer.close()
