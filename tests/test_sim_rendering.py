"""Headless rendering: both cameras at learning and operator sizes show the scene, not a blank frame."""

import numpy as np
import pytest

import sim
from sim.rendering import CameraRenderer


@pytest.fixture(scope="module")
def env():
    e = sim.make_env("pick_place", render_mode="rgb_array")
    e.reset(seed=0)
    yield e
    e.close()


@pytest.mark.parametrize("size", [(128, 128), (480, 640)])
@pytest.mark.parametrize("camera", ["front", "wrist"])
def test_cameras_render_a_lit_scene(env, camera, size):
    image = env.render_camera(camera, *size)
    assert image.shape == (*size, 3) and image.dtype == np.uint8
    assert 30 < image.mean() < 230  # neither black nor blown out
    assert image.std() > 15  # has structure


def test_front_camera_sees_the_red_cube(env):
    image = env.render_camera("front", 480, 640).astype(int)
    red = (image[..., 0] > 150) & (image[..., 1] < 90) & (image[..., 2] < 90)
    assert red.sum() > 100


def test_render_size_above_the_offscreen_buffer_is_refused(env):
    with pytest.raises(ValueError, match="exceeds the model's offscreen buffer"):
        CameraRenderer(env.model, 1080, 1920)


def test_render_follows_the_simulation(env):
    first = env.render()
    obs, _ = env.reset(seed=1)
    second = env.render()
    assert np.abs(first.astype(int) - second.astype(int)).mean() > 0.5
