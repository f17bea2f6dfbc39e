"""The operator console, rendered headless to PNG and checked for what a person would see."""

import numpy as np
import pygame
import pytest

from hgdagger.common.types import Source
from teleop.console import BANNER_COLOURS, ConsoleStatus, OperatorConsole
from policy_server.doubt import chunk_spread


@pytest.fixture(scope="module")
def console():
    c = OperatorConsole(size=(1280, 720), window=False)
    yield c
    pygame.quit()


def pixel(surface, x, y):
    return tuple(surface.get_at((x, y)))[:3]


@pytest.mark.parametrize("source", list(Source))
def test_banner_colour_says_who_is_in_control(console, source, tmp_path):
    console.show(ConsoleStatus(source=source, hold_reason="policy stale"))
    path = tmp_path / "console.png"
    console.save_png(str(path))
    image = pygame.image.load(str(path))
    assert pixel(image, 1270, 5) == BANNER_COLOURS[source]
    # The banner carries large white text.
    band = pygame.surfarray.array3d(image)[:, 20:140]
    assert (band.min(axis=2) > 240).sum() > 2000


def test_camera_frames_appear_under_the_banner(console):
    red = np.zeros((128, 128, 3), np.uint8)
    red[..., 0] = 255
    console.show(ConsoleStatus(source=Source.POLICY, cameras={"front": red}))
    pixels = pygame.surfarray.array3d(console.surface)
    region = pixels[20:300, 200:400]
    assert ((region[..., 0] > 240) & (region[..., 1] < 20)).sum() > 10_000


def test_doubt_gauge_fills_and_turns_red_past_its_threshold(console):
    def gauge_pixels(doubt):
        console.show(ConsoleStatus(doubt=doubt, doubt_threshold=0.05))
        return pygame.surfarray.array3d(console.surface)[920:1240, 560:578]

    calm, alarmed = gauge_pixels(0.02), gauge_pixels(0.09)
    green = lambda a: ((a[..., 1] > 150) & (a[..., 0] < 120)).sum()
    red = lambda a: ((a[..., 0] > 200) & (a[..., 1] < 80)).sum()
    assert green(calm) > 0 and red(calm) == 0
    assert red(alarmed) > green(alarmed)
    assert ConsoleStatus(doubt=0.09, doubt_threshold=0.05).doubt_alarm


def test_warnings_are_drawn_in_warning_colour(console):
    console.show(ConsoleStatus(warnings=["gamepad unplugged: the arm holds"]))
    pixels = pygame.surfarray.array3d(console.surface)
    yellow = (pixels[..., 0] > 240) & (pixels[..., 1] > 190) & (pixels[..., 2] < 100)
    assert yellow[:, 500:].sum() > 200


def test_chunk_spread_is_zero_for_agreeing_samples_and_grows_with_disagreement():
    same = np.repeat(np.random.default_rng(0).normal(size=(1, 16, 8)), 5, axis=0)
    assert chunk_spread(same) == pytest.approx(0.0)
    split = np.concatenate([np.full((3, 16, 8), -1.0), np.full((3, 16, 8), 1.0)])
    assert chunk_spread(split) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="n >= 2"):
        chunk_spread(np.zeros((1, 16, 8)))
