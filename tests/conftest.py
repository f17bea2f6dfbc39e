"""Test-wide settings: headless rendering and a dummy SDL video driver, before anything imports them."""

import os

os.environ.setdefault("MUJOCO_GL", "egl")
os.environ.setdefault("PYOPENGL_PLATFORM", os.environ["MUJOCO_GL"])
os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
os.environ.setdefault("SDL_AUDIODRIVER", "dummy")

# Property tests check behaviour, not speed: on a loaded 2-core CI machine a per-example deadline
# only produces flaky failures. Timing targets live in benchmarks/.
from hypothesis import HealthCheck, settings  # noqa: E402

settings.register_profile("hgd", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("hgd")
