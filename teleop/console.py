"""The operator console: who is in control, in large type, and everything a supervisor needs at a glance.

``draw(surface, status)`` is a pure function of a ``ConsoleStatus``: the runtime fills the status,
the console draws it (in a window, or headless with SDL_VIDEODRIVER=dummy for tests and recordings).
The keys it lists are derived from the status too (``hints_for``), so they always match the
session kind, takeover mode, phase and the devices actually connected.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from hgdagger.common.types import Source

if TYPE_CHECKING:
    import pygame

BANNER_COLOURS = {
    Source.POLICY: (40, 110, 220),  # blue: the policy drives
    Source.HUMAN: (240, 140, 20),  # orange: a person drives
    Source.HOLD: (200, 30, 30),  # red: nobody fit to command, the arm holds
}
BANNER_TEXT = {Source.POLICY: "POLICY", Source.HUMAN: "HUMAN", Source.HOLD: "HOLD"}
IDLE_COLOUR = (72, 80, 96)  # a hold between episodes is expected, not an alarm: slate, not red
PHASE_TEXT = {"waiting": "READY", "reset": "RESET THE SCENE", "label": "LABEL THE EPISODE", "done": "DONE"}
PHASE_PROMPT = {"waiting": "waiting for the operator to start", "reset": "reset the scene",
                "label": "label the episode", "done": "session finished"}
BACKGROUND = (24, 26, 30)
PANEL = (10, 11, 14)  # the dark inset behind the episode counter and the prompt
TEXT = (230, 230, 235)
WARNING = (255, 210, 60)
STALE = (125, 127, 135)  # a value that is no longer current: grey, never as bright as a live one
HINT = (175, 180, 190)
GAUGE_OK, GAUGE_ALARM, GAUGE_EMPTY = (80, 190, 120), (220, 50, 50), (70, 72, 80)
TIME_WARNING_S = 10.0  # time left is drawn in the warning colour from here on

# What each operator action is on each kind of device: the keyboard's keys
# (teleop/devices/keyboard.py EVENT_KEYS) and the xbox preset's buttons (teleop/devices/gamepad.py).
KEYS: dict[str, dict[str, str]] = {
    "start": {"keyboard": "n", "gamepad": "X"},
    "takeover": {"keyboard": "t", "gamepad": "A"},
    "success": {"keyboard": "enter", "gamepad": "Start"},
    "failure": {"keyboard": "b", "gamepad": "Back"},
    "discard": {"keyboard": "x", "gamepad": "B"},
}
DEADMAN_BUTTON = "LB"
BUTTON_DEVICES = ("keyboard", "gamepad")  # a leader arm has no buttons
LABELS = ("success", "failure", "discard")
NO_KEYBOARD_DEADMAN = (f"the keyboard cannot take over in dead-man mode: hold {DEADMAN_BUTTON} on a gamepad, "
                       "or restart with --takeover-mode toggle")  # a terminal reports no key release
NO_DISPLAY = "no display: set DISPLAY, or SDL_VIDEODRIVER=dummy to run without a window"
HEADLESS_DRIVERS = ("offscreen", "dummy")


@dataclass
class ConsoleStatus:
    """One snapshot of the session, filled by the runtime (``RobotRuntime.console_status``); the
    defaults are what an older caller that fills none of the later fields gets."""

    source: Source = Source.HOLD
    hold_reason: str = ""  # e.g. "policy stale", "gamepad unplugged"
    task: str = ""
    episode: str = ""  # the episode's id
    episode_time_s: float = 0.0
    step_rate_hz: float = 0.0
    interventions: int = 0
    jitter_ms: tuple[float, float] = (0.0, 0.0)  # loop period error p50, p99
    server_latency_ms: float | None = None
    doubt: float | None = None
    doubt_threshold: float = 0.05
    warnings: list[str] = field(default_factory=list)
    hints: list[str] = field(default_factory=list)  # extra lines after the derived ``hints_for``
    cameras: dict[str, np.ndarray] = field(default_factory=dict)
    episode_index: int = 0  # 1-based; 0: unknown
    episodes_total: int = 0  # 0: unknown
    time_left_s: float | None = None  # None: no limit known
    phase: str = "running"  # waiting (for start) | running | reset (scene, between episodes) | label | done
    prompt: str = ""  # what the operator should do now, shown large while not running
    last_episode: str = ""  # how the last episode ended and whether it was saved
    session_kind: str = "rollout"  # collect (the human always drives) | rollout (a policy, with takeover)
    takeover_mode: str = "toggle"  # toggle | deadman
    devices: list[str] = field(default_factory=list)  # kinds connected now: keyboard, gamepad, leader
    stale: frozenset[str] = frozenset()  # values no longer current: latency, doubt, rate

    @property
    def doubt_alarm(self) -> bool:
        return self.doubt is not None and self.doubt > self.doubt_threshold


# ----------------------------------------------------------------------------- what to say
def hints_for(status: ConsoleStatus) -> list[str]:
    """The keys and buttons that do something now, on the devices connected now: listing a key that
    does nothing (or a device nobody holds) teaches the operator to ignore the list."""
    if status.phase == "done":
        return []
    kinds = [k for k in BUTTON_DEVICES if k in status.devices]
    if not status.devices:
        return ["no input device connected: run hgd-device keyboard (or gamepad)"]
    if not kinds:  # a leader arm (or the sim's stand-in) alone: nothing to press
        return [f"{' and '.join(status.devices)}: no buttons; run hgd-device keyboard (or gamepad) to start and label"]
    if status.phase in ("waiting", "reset"):
        return [_hint("start", kinds, "start the episode")]
    labels = [_hint(label, kinds, label) for label in LABELS]
    if status.phase == "label" or status.session_kind == "collect":
        return labels
    return _takeover_hints(status, kinds) + labels


def _hint(action: str, kinds: list[str], what: str) -> str:
    return " / ".join(KEYS[action][k] for k in kinds) + ": " + what


def _takeover_hints(status: ConsoleStatus, kinds: list[str]) -> list[str]:
    """Dead-man needs a button that reports its release: only a gamepad has one."""
    if status.takeover_mode == "deadman":
        return [f"hold {DEADMAN_BUTTON}: take over while held"] if "gamepad" in kinds else [NO_KEYBOARD_DEADMAN]
    verb = {Source.POLICY: "take over", Source.HUMAN: "hand back"}.get(status.source, "take over / hand back")
    return [_hint("takeover", kinds, verb)]


def _stale_suffix(status: ConsoleStatus, name: str) -> str:
    return " (stale)" if name in status.stale else ""


def doubt_label(status: ConsoleStatus) -> str:
    """The number beside the gauge: a bar alone cannot be read against a threshold or a log."""
    value = "-" if status.doubt is None else f"{status.doubt:.3f} rad"
    return f"doubt {value}  (alarm > {status.doubt_threshold:.3f})" + _stale_suffix(status, "doubt")


def latency_label(status: ConsoleStatus) -> str:
    value = "-" if status.server_latency_ms is None else f"{status.server_latency_ms:.1f} ms"
    return f"policy server {value}" + _stale_suffix(status, "latency")


def rate_label(status: ConsoleStatus) -> str:
    return (f"loop {status.step_rate_hz:.1f} Hz  jitter {status.jitter_ms[0]:.2f} / {status.jitter_ms[1]:.2f} ms"
            + _stale_suffix(status, "rate"))


def episode_label(status: ConsoleStatus) -> str:
    if not status.episode_index:
        return ""
    return f"episode {status.episode_index}" + (f" of {status.episodes_total}" if status.episodes_total else "")


def time_label(status: ConsoleStatus) -> str:
    """Time left when the session knows its limit, else the time so far."""
    if status.time_left_s is None:
        return f"{status.episode_time_s:.0f} s"
    left = max(0.0, status.time_left_s)
    return f"{int(left) // 60}:{int(left) % 60:02d} left" if left >= 60 else f"{left:.0f} s left"


def time_is_short(status: ConsoleStatus) -> bool:
    return status.phase == "running" and status.time_left_s is not None and status.time_left_s <= TIME_WARNING_S


def banner_label(status: ConsoleStatus) -> tuple[str, tuple[int, int, int]]:
    """Who drives, in its colour; a hold outside an episode is the phase, in a calm colour."""
    if status.source is Source.HOLD and status.phase != "running":
        return PHASE_TEXT.get(status.phase, status.phase.upper()), IDLE_COLOUR
    reason = f": {status.hold_reason}" if status.source is Source.HOLD and status.hold_reason else ""
    return BANNER_TEXT[status.source] + reason, BANNER_COLOURS[status.source]


# ----------------------------------------------------------------------------- the window
class ConsoleUnavailable(RuntimeError):
    """No window can open here; the message says what to set."""


def console_problem() -> str | None:
    """Why a console window cannot open here, before trying (None: it should open). On Linux a
    window needs an X or Wayland display, unless SDL is told to draw without one."""
    if os.environ.get("SDL_VIDEODRIVER") or not sys.platform.startswith("linux"):
        return None
    if os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"):
        return None
    return NO_DISPLAY


def _software_framebuffer() -> None:
    """Have SDL draw the window without OpenGL. By default SDL backs a window's surface with a GL
    texture, i.e. a GLX context on the X display; MuJoCo's offscreen EGL context (MUJOCO_GL=egl) on
    the same thread makes that GLX context fail with X's BadAccess on X_GLXMakeCurrent, which kills
    the process (and a GLX context made current first makes MuJoCo's eglMakeCurrent fail). The
    console blits a few images 15 times a second: a plain X image is plenty. SDL's own SIGINT/SIGTERM
    handlers are kept out too: they turn the signals into window events nobody reads, and a session
    with its console open then ignored `kill` and the terminal's Ctrl-C."""
    os.environ.setdefault("SDL_FRAMEBUFFER_ACCELERATION", "0")
    os.environ.setdefault("SDL_NO_SIGNAL_HANDLERS", "1")


class OperatorConsole:
    def __init__(self, size: tuple[int, int] = (1280, 720), window: bool = True, sound: bool = False):
        os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")
        problem = console_problem() if window else None
        if problem:
            raise ConsoleUnavailable(problem)
        _software_framebuffer()
        import pygame

        self.pygame = pygame
        self.surface = _open_surface(pygame, size, window)
        pygame.font.init()
        self.size = size
        self.fonts = make_fonts()
        self.beep = _make_beep(pygame) if sound else None
        self._was_alarm = False

    def show(self, status: ConsoleStatus) -> dict:
        drawn = draw(self.surface, status, self.fonts)
        if self.beep is not None and status.doubt_alarm and not self._was_alarm:
            self.beep.play()
        self._was_alarm = status.doubt_alarm
        if self.pygame.display.get_surface() is self.surface:
            self.pygame.display.flip()
        return drawn

    def save_png(self, path: str) -> None:
        self.pygame.image.save(self.surface, path)

    def closed(self) -> bool:
        """Whether the operator closed the window (also keeps the window manager's events flowing)."""
        return any(e.type == self.pygame.QUIT for e in self.pygame.event.get(self.pygame.QUIT))

    def close(self) -> None:
        self.pygame.display.quit()


def _open_surface(pygame, size: tuple[int, int], window: bool):
    """The window (or an off-screen surface); ConsoleUnavailable where SDL could only fake one."""
    pygame.display.init()  # not pygame.init(): audio is opened only when a beep is wanted
    if not window:
        return pygame.Surface(size)
    driver = pygame.display.get_driver()
    if driver in HEADLESS_DRIVERS and not os.environ.get("SDL_VIDEODRIVER"):
        pygame.display.quit()  # SDL fell back to drawing nowhere: the operator would see nothing
        display = os.environ.get("DISPLAY")
        raise ConsoleUnavailable(NO_DISPLAY + (f" (DISPLAY={display} cannot be opened)" if display else ""))
    try:
        surface = pygame.display.set_mode(size)
    except pygame.error as exc:
        pygame.display.quit()
        raise ConsoleUnavailable(f"cannot open the console window ({exc}): {NO_DISPLAY}") from None
    pygame.display.set_caption("hgdagger-stack operator console")
    return surface


def make_fonts() -> dict:
    import pygame

    pygame.font.init()
    sizes = (("banner", 96), ("big", 48), ("medium", 34), ("small", 26))
    return {name: pygame.font.Font(None, px) for name, px in sizes}


def _make_beep(pygame, hz: float = 880.0, seconds: float = 0.15):
    """A short sine tone made in memory (no sound files to ship); None where no audio device exists."""
    try:
        pygame.mixer.init(frequency=22050, size=-16, channels=1)
    except pygame.error:
        return None
    t = np.arange(int(22050 * seconds)) / 22050
    wave = (0.4 * 32767 * np.sin(2 * np.pi * hz * t)).astype(np.int16)
    return pygame.sndarray.make_sound(wave.reshape(-1, 1) if pygame.mixer.get_init()[2] == 1 else np.column_stack([wave, wave]))


# ----------------------------------------------------------------------------- layout
BANNER_H, FOOTER_H, PAD = 88, 34, 8
SIDE_W = 380  # the numbers beside the cameras
STRIP_H = 124  # ... or under them, whichever leaves the cameras more area
COLUMN_MIN_W = 400
GAUGE_BAR_H = 22
HINT_GAP = "     "


@dataclass(frozen=True)
class Layout:
    cameras: list[pygame.Rect]  # one per camera: the scaled frame's own area
    area: pygame.Rect  # the rect the cameras share (the prompt is drawn over its middle)
    panel: pygame.Rect  # the numbers
    columns: int  # the panel's text columns


def layout(size: tuple[int, int], frame_sizes: list[tuple[int, int]], footer_h: int = FOOTER_H) -> Layout:
    """Place the cameras (frame (height, width) each) as large as their aspect allows: the numbers
    go beside or under them and the cameras in a grid, whichever arrangement gives them most area."""
    import pygame

    width, height = size
    body = pygame.Rect(PAD, BANNER_H + PAD, width - 2 * PAD, height - BANNER_H - footer_h - 2 * PAD)
    side = (pygame.Rect(body.x, body.y, body.w - SIDE_W, body.h),
            pygame.Rect(body.right - SIDE_W + PAD, body.y, SIDE_W - PAD, body.h))
    strip = (pygame.Rect(body.x, body.y, body.w, body.h - STRIP_H),
             pygame.Rect(body.x, body.bottom - STRIP_H + PAD, body.w, STRIP_H - PAD))
    best = None
    for area, panel in (side, strip):
        for rows in range(1, max(1, len(frame_sizes)) + 1):
            rects = _grid(area, frame_sizes, rows)
            total = sum(r.w * r.h for r in rects)
            if best is None or total > best[0]:
                best = (total, rects, area, panel)
    _, rects, area, panel = best
    return Layout(rects, area, panel, max(1, panel.w // COLUMN_MIN_W))


def _grid(area, frame_sizes: list[tuple[int, int]], rows: int) -> list:
    """Frames in ``rows`` rows of equal cells, each scaled to fit its cell with its aspect kept, centred."""
    import pygame

    if not frame_sizes:
        return []
    cols = -(-len(frame_sizes) // rows)
    cell_w, cell_h = (area.w - PAD * (cols - 1)) // cols, (area.h - PAD * (rows - 1)) // rows
    rects = []
    for i, (fh, fw) in enumerate(frame_sizes):
        scale = min(cell_w / fw, cell_h / fh)
        w, h = int(fw * scale), int(fh * scale)
        x = area.x + (i % cols) * (cell_w + PAD) + (cell_w - w) // 2
        y = area.y + (i // cols) * (cell_h + PAD) + (cell_h - h) // 2
        rects.append(pygame.Rect(x, y, w, h))
    return rects


# ----------------------------------------------------------------------------- drawing
def draw(surface, status: ConsoleStatus, fonts: dict | None = None) -> dict:
    """Lay the whole console out on ``surface``; returns where each named element went (for tests)."""
    fonts = fonts or make_fonts()
    width, height = surface.get_size()
    surface.fill(BACKGROUND)
    frames = {name: frame for name, frame in status.cameras.items() if frame is not None and frame.ndim == 3}
    hints = hint_lines(fonts["small"], hints_for(status) + list(status.hints), width - 40)
    geometry = layout((width, height), [f.shape[:2] for f in frames.values()], _footer_height(fonts, hints))
    drawn = {"banner": _draw_banner(surface, status, fonts)}
    drawn |= _draw_episode_box(surface, status, fonts)
    drawn |= _draw_cameras(surface, frames, geometry.cameras, fonts)
    drawn |= _draw_panel(surface, status, fonts, geometry.panel, geometry.columns)
    if status.phase != "running":
        drawn["prompt"] = _draw_prompt(surface, status, fonts, geometry.area)
    drawn["hints"] = _draw_hints(surface, fonts, hints)
    return drawn


def _draw_banner(surface, status: ConsoleStatus, fonts: dict):
    import pygame

    width = surface.get_width()
    label, colour = banner_label(status)
    rect = pygame.Rect(0, 0, width, BANNER_H)
    pygame.draw.rect(surface, colour, rect)
    room = width - _EPISODE_BOX_W - 60
    text = _fit(fonts, ("banner", "big", "medium"), label, room, (255, 255, 255))
    surface.blit(text, (24, (BANNER_H - text.get_height()) // 2))
    return rect


_EPISODE_BOX_W = 400


def _draw_episode_box(surface, status: ConsoleStatus, fonts: dict) -> dict:
    """Episode k of N and the time left, on a dark inset at the banner's right: readable whatever
    the banner's colour, and the time turns to the warning colour in its last seconds."""
    import pygame

    box = pygame.Rect(surface.get_width() - _EPISODE_BOX_W - 16, 10, _EPISODE_BOX_W, BANNER_H - 20)
    pygame.draw.rect(surface, PANEL, box, border_radius=8)
    episode = fonts["medium"].render(episode_label(status), True, TEXT)
    surface.blit(episode, (box.x + 14, box.centery - episode.get_height() // 2))
    drawn = {"episode": box}
    if status.phase == "running":
        clock = fonts["big"].render(time_label(status), True, WARNING if time_is_short(status) else TEXT)
        at = clock.get_rect(midright=(box.right - 14, box.centery))
        surface.blit(clock, at)
        drawn["time"] = at
    return drawn


def _draw_cameras(surface, frames: dict[str, np.ndarray], rects: list, fonts: dict) -> dict:
    import pygame

    drawn = {}
    for (name, frame), rect in zip(frames.items(), rects):
        image = pygame.surfarray.make_surface(np.ascontiguousarray(frame[..., :3]).swapaxes(0, 1))
        surface.blit(pygame.transform.smoothscale(image, rect.size), rect)
        tag = fonts["medium"].render(name, True, TEXT)
        pygame.draw.rect(surface, PANEL, (rect.x, rect.y, tag.get_width() + 16, tag.get_height() + 8))
        surface.blit(tag, (rect.x + 8, rect.y + 4))
        drawn[f"camera:{name}"] = rect
    return drawn


def _panel_rows(status: ConsoleStatus) -> list[tuple[str, str, tuple[int, int, int]]]:
    """(name, text, colour) top to bottom: the doubt gauge first (it never moves), then what went
    wrong, then the numbers. A collect session has no policy: no doubt, no server."""
    def value(name: str, text: str) -> tuple[str, str, tuple[int, int, int]]:
        return name, text, STALE if name in status.stale else TEXT

    rollout = status.session_kind != "collect"
    rows = [("doubt", doubt_label(status), STALE if "doubt" in status.stale else TEXT)] if rollout else []
    rows += [("warning", "! " + w, WARNING) for w in status.warnings]
    if status.last_episode and status.phase == "running":
        rows.append(("last_episode", "last: " + status.last_episode, HINT))
    if rollout:
        rows.append(value("latency", latency_label(status)))
        rows.append(("interventions", f"interventions {status.interventions}", TEXT))
    rows.append(value("rate", rate_label(status)))
    devices = ", ".join(status.devices) if status.devices else "none"
    rows.append(("devices", f"devices: {devices}", TEXT if status.devices else WARNING))
    if status.task or status.episode:
        rows.append(("task", f"{status.task}  {status.episode}".strip(), HINT))
    return rows


def _draw_panel(surface, status: ConsoleStatus, fonts: dict, panel, columns: int) -> dict:
    """The rows flowed down the panel's columns; a row that no longer fits is left out."""
    import pygame

    font = fonts["small"]
    line_h = font.get_linesize() + 2
    col_w = (panel.w - PAD * (columns - 1)) // columns
    col, y, drawn = 0, panel.y, {}
    for name, text, colour in _panel_rows(status):
        lines = _wrap(font, text, col_w - 4)[:1] if name == "doubt" else _wrap(font, text, col_w - 4)
        h = line_h + GAUGE_BAR_H + 14 if name == "doubt" else line_h * len(lines)
        if y + h > panel.bottom and y > panel.y:
            col, y = col + 1, panel.y
        if col >= columns:
            break
        x = panel.x + col * (col_w + PAD)
        rects = [surface.blit(font.render(line, True, colour), (x, y + i * line_h)) for i, line in enumerate(lines)]
        drawn.setdefault(name, rects[0].unionall(rects[1:]))
        if name == "doubt":
            drawn["gauge"] = _draw_gauge(surface, status, pygame.Rect(x, y + line_h + 6, min(col_w, 360), GAUGE_BAR_H))
        y += h + 2
    return drawn


def _draw_gauge(surface, status: ConsoleStatus, rect):
    """A bar with the threshold at half scale: green below, red above, grey when stale."""
    import pygame

    pygame.draw.rect(surface, GAUGE_EMPTY, rect, border_radius=4)
    if status.doubt is not None:
        fill = int(rect.w * min(1.0, max(0.0, status.doubt / (2.0 * status.doubt_threshold))))
        colour = STALE if "doubt" in status.stale else GAUGE_ALARM if status.doubt_alarm else GAUGE_OK
        pygame.draw.rect(surface, colour, (rect.x, rect.y, fill, rect.h), border_radius=4)
    pygame.draw.line(surface, WARNING, (rect.centerx, rect.y - 4), (rect.centerx, rect.bottom + 3), 3)
    return rect


def _draw_prompt(surface, status: ConsoleStatus, fonts: dict, area):
    """Between episodes, what to do next, large, over the middle of the cameras; under it, how
    the last episode ended (saved or not: the operator decides whether to redo it)."""
    import pygame

    width = min(area.w - 40, 900)
    prompt = status.prompt or PHASE_PROMPT.get(status.phase, status.phase)
    blocks = [(fonts["big"], line) for line in _wrap(fonts["big"], prompt, width - 40)]
    blocks += [(fonts["medium"], line) for line in _wrap(fonts["medium"], status.last_episode, width - 40)]
    gap = 8 if status.last_episode else 0
    box = pygame.Rect(0, 0, width, sum(font.get_linesize() for font, _ in blocks) + 40 + gap)
    box.center = area.center
    pygame.draw.rect(surface, PANEL, box, border_radius=10)
    pygame.draw.rect(surface, HINT, box, width=2, border_radius=10)
    y = box.y + 20
    for i, (font, line) in enumerate(blocks):
        y += gap if i and font is not blocks[i - 1][0] else 0  # between the prompt and the last episode
        text = font.render(line, True, TEXT)
        surface.blit(text, text.get_rect(midtop=(box.centerx, y)))
        y += font.get_linesize()
    return box


def hint_lines(font, hints: list[str], width: int) -> list[str]:
    """The hints packed into as few lines as fit ``width``, never splitting one hint."""
    lines: list[str] = []
    for hint in hints:
        if lines and font.size(lines[-1] + HINT_GAP + hint)[0] <= width:
            lines[-1] += HINT_GAP + hint
        else:
            lines.append(hint)
    return lines


def _draw_hints(surface, fonts: dict, lines: list[str]):
    import pygame

    width, height = surface.get_size()
    line_h = fonts["small"].get_linesize()
    rect = pygame.Rect(0, height - _footer_height(fonts, lines), width, _footer_height(fonts, lines))
    pygame.draw.rect(surface, PANEL, rect)
    for i, line in enumerate(lines):
        surface.blit(_fit(fonts, ("small",), line, width - 40, HINT), (20, rect.y + 6 + i * line_h))
    return rect


def _footer_height(fonts: dict, lines: list[str]) -> int:
    return max(FOOTER_H, len(lines) * fonts["small"].get_linesize() + 12)


def _fit(fonts: dict, names: tuple[str, ...], text: str, width: int, colour: tuple[int, int, int]):
    """The text in the largest of ``names`` that fits ``width``; squeezed to fit in the smallest."""
    import pygame

    for name in names:
        rendered = fonts[name].render(text, True, colour)
        if rendered.get_width() <= width:
            return rendered
    return pygame.transform.smoothscale(rendered, (width, rendered.get_height()))


def _wrap(font, text: str, width: int) -> list[str]:
    """Word-wrap ``text`` to lines no wider than ``width`` pixels (a single long word is kept whole)."""
    lines, line = [], ""
    for word in text.split():
        candidate = f"{line} {word}".strip()
        if line and font.size(candidate)[0] > width:
            lines.append(line)
            line = word
        else:
            line = candidate
    return lines + [line] if line else lines
