"""The operator console: who is in control, in large type, and everything a supervisor needs at a glance.

``draw(surface, status)`` is a pure function of a ``ConsoleStatus``: the runtime fills the status,
the console draws it (in a window, or headless with SDL_VIDEODRIVER=dummy for tests and recordings).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from hgdagger.common.types import Source

BANNER_COLOURS = {
    Source.POLICY: (40, 110, 220),  # blue: the policy drives
    Source.HUMAN: (240, 140, 20),  # orange: a person drives
    Source.HOLD: (200, 30, 30),  # red: nobody fit to command, the arm holds
}
BANNER_TEXT = {Source.POLICY: "POLICY", Source.HUMAN: "HUMAN", Source.HOLD: "HOLD"}
BACKGROUND = (24, 26, 30)
TEXT = (230, 230, 235)
WARNING = (255, 210, 60)


@dataclass
class ConsoleStatus:
    source: Source = Source.HOLD
    hold_reason: str = ""  # e.g. "policy stale", "gamepad unplugged"
    task: str = ""
    episode: str = ""
    episode_time_s: float = 0.0
    step_rate_hz: float = 0.0
    interventions: int = 0
    jitter_ms: tuple[float, float] = (0.0, 0.0)  # loop period error p50, p99
    server_latency_ms: float | None = None
    doubt: float | None = None
    doubt_threshold: float = 0.05
    warnings: list[str] = field(default_factory=list)
    hints: list[str] = field(default_factory=list)  # the keys and buttons that apply right now
    cameras: dict[str, np.ndarray] = field(default_factory=dict)

    @property
    def doubt_alarm(self) -> bool:
        return self.doubt is not None and self.doubt > self.doubt_threshold


class OperatorConsole:
    def __init__(self, size: tuple[int, int] = (1280, 720), window: bool = True, sound: bool = False):
        import pygame

        self.pygame = pygame
        pygame.display.init()  # not pygame.init(): audio is opened only when a beep is wanted
        pygame.font.init()
        self.size = size
        self.surface = pygame.display.set_mode(size) if window else pygame.Surface(size)
        if window:
            pygame.display.set_caption("hgdagger-stack operator console")
        self.fonts = {name: pygame.font.Font(None, px) for name, px in (("banner", 120), ("big", 40), ("small", 26))}
        self.beep = _make_beep(pygame) if sound else None
        self._was_alarm = False

    def show(self, status: ConsoleStatus) -> None:
        draw(self.surface, status, self.fonts)
        if self.beep is not None and status.doubt_alarm and not self._was_alarm:
            self.beep.play()
        self._was_alarm = status.doubt_alarm
        if self.pygame.display.get_surface() is self.surface:
            self.pygame.display.flip()

    def save_png(self, path: str) -> None:
        self.pygame.image.save(self.surface, path)

    def closed(self) -> bool:
        return any(e.type == self.pygame.QUIT for e in self.pygame.event.get(self.pygame.QUIT))


def _make_beep(pygame, hz: float = 880.0, seconds: float = 0.15):
    """A short sine tone made in memory (no sound files to ship); None where no audio device exists."""
    try:
        pygame.mixer.init(frequency=22050, size=-16, channels=1)
    except pygame.error:
        return None
    t = np.arange(int(22050 * seconds)) / 22050
    wave = (0.4 * 32767 * np.sin(2 * np.pi * hz * t)).astype(np.int16)
    return pygame.sndarray.make_sound(wave.reshape(-1, 1) if pygame.mixer.get_init()[2] == 1 else np.column_stack([wave, wave]))


def draw(surface, status: ConsoleStatus, fonts: dict) -> None:
    """Lay the whole console out on ``surface``."""
    import pygame

    width, height = surface.get_size()
    surface.fill(BACKGROUND)
    banner_h = 150
    colour = BANNER_COLOURS[status.source]
    pygame.draw.rect(surface, colour, (0, 0, width, banner_h))
    label = BANNER_TEXT[status.source] + (f": {status.hold_reason}" if status.source is Source.HOLD and status.hold_reason else "")
    text = fonts["banner"].render(label, True, (255, 255, 255))
    if text.get_width() > width - 40:
        text = fonts["big"].render(label, True, (255, 255, 255))
    surface.blit(text, (30, (banner_h - text.get_height()) // 2))

    # Cameras, side by side under the banner.
    cam_top, cam_h = banner_h + 10, int(height * 0.5)
    names = list(status.cameras)
    if names:
        cam_w = (width - 10 * (len(names) + 1)) // len(names)
        for i, name in enumerate(names):
            frame = np.ascontiguousarray(status.cameras[name][..., :3])
            image = pygame.surfarray.make_surface(frame.swapaxes(0, 1))
            scale = min(cam_w / image.get_width(), cam_h / image.get_height())
            image = pygame.transform.smoothscale(image, (int(image.get_width() * scale), int(image.get_height() * scale)))
            surface.blit(image, (10 + i * (cam_w + 10), cam_top))
            label = fonts["small"].render(name, True, TEXT)
            pygame.draw.rect(surface, BACKGROUND, (10 + i * (cam_w + 10), cam_top, label.get_width() + 10, label.get_height() + 6))
            surface.blit(label, (15 + i * (cam_w + 10), cam_top + 3))

    # Numbers, one line each, left column.
    y = cam_top + cam_h + 12
    latency = "-" if status.server_latency_ms is None else f"{status.server_latency_ms:.1f} ms"
    lines = [
        f"{status.task}  episode {status.episode}  {status.episode_time_s:5.1f} s",
        f"loop {status.step_rate_hz:5.1f} Hz   jitter p50 {status.jitter_ms[0]:.2f} ms  p99 {status.jitter_ms[1]:.2f} ms",
        f"interventions {status.interventions}   policy server {latency}",
    ]
    for line in lines:
        surface.blit(fonts["big"].render(line, True, TEXT), (20, y))
        y += 42
    for warning in status.warnings:
        surface.blit(fonts["big"].render("! " + warning, True, WARNING), (20, y))
        y += 42

    # Doubt gauge, right column: a bar with the threshold line.
    gx, gy, gw, gh = width - 360, cam_top + cam_h + 34, 320, 34
    surface.blit(fonts["small"].render("policy doubt", True, TEXT), (gx, gy - 22 + 0))
    pygame.draw.rect(surface, (70, 72, 80), (gx, gy + 10, gw, gh), border_radius=4)
    full_scale = 2.0 * status.doubt_threshold
    if status.doubt is not None:
        fill = int(gw * min(1.0, status.doubt / full_scale))
        pygame.draw.rect(surface, (220, 50, 50) if status.doubt_alarm else (80, 190, 120), (gx, gy + 10, fill, gh), border_radius=4)
    line_x = gx + gw // 2  # the threshold sits at half scale
    pygame.draw.line(surface, WARNING, (line_x, gy + 4), (line_x, gy + 16 + gh), 3)

    # Hints at the bottom: the keys and buttons that apply right now.
    hint = "   ".join(status.hints)
    if hint:
        surface.blit(fonts["small"].render(hint, True, (170, 175, 185)), (20, height - 32))
