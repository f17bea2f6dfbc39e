"""The operator console, rendered headless to PNG and checked for what a person would see."""

import ctypes.util
import os
import shutil
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pygame
import pytest

from hgdagger.common.types import Source
from policy_server.doubt import chunk_spread
from teleop.console import BANNER_COLOURS, IDLE_COLOUR, KEYS, NO_DISPLAY, NO_KEYBOARD_DEADMAN, STALE, ConsoleStatus
from teleop.console import OperatorConsole, doubt_label, hints_for, latency_label, layout, rate_label, time_label
from teleop.devices.gamepad import GAMEPAD_PRESETS, GamepadMapper
from teleop.devices.keyboard import EVENT_KEYS
from teleop.intent import DeviceEvent

ROOT = Path(__file__).resolve().parents[1]
XBOX_BUTTONS = {0: "A", 1: "B", 2: "X", 3: "Y", 4: "LB", 5: "RB", 6: "Back", 7: "Start"}  # SDL's numbering on Linux
PHASES = ("waiting", "running", "reset", "label", "done")


@pytest.fixture(scope="module")
def console():
    c = OperatorConsole(size=(1280, 720), window=False)
    yield c
    pygame.quit()


def pixel(surface, x, y):
    return tuple(surface.get_at((x, y)))[:3]


def region(surface, rect) -> np.ndarray:
    """The pixels of ``rect`` as (w, h, 3)."""
    return pygame.surfarray.array3d(surface)[rect.x:rect.right, rect.y:rect.bottom]


def solid(colour, h=96, w=128) -> np.ndarray:
    frame = np.zeros((h, w, 3), np.uint8)
    frame[...] = colour
    return frame


# ----------------------------------------------------------------------------- banner and cameras
@pytest.mark.parametrize("source", list(Source))
def test_banner_colour_says_who_is_in_control(console, source, tmp_path):
    console.show(ConsoleStatus(source=source, hold_reason="policy stale"))
    path = tmp_path / "console.png"
    console.save_png(str(path))
    image = pygame.image.load(str(path))
    assert pixel(image, 1270, 5) == BANNER_COLOURS[source]
    # The banner carries large white text.
    band = pygame.surfarray.array3d(image)[:800, 10:80]
    assert (band.min(axis=2) > 240).sum() > 2000


def test_a_hold_between_episodes_is_not_drawn_as_an_alarm(console):
    for phase in ("waiting", "reset", "done"):
        console.show(ConsoleStatus(source=Source.HOLD, phase=phase))
        assert pixel(console.surface, 1270, 5) == IDLE_COLOUR
    console.show(ConsoleStatus(source=Source.HUMAN, phase="reset"))  # a person driving is still shown as such
    assert pixel(console.surface, 1270, 5) == BANNER_COLOURS[Source.HUMAN]


@pytest.mark.parametrize("names", [("front",), ("front", "wrist")])
def test_cameras_take_most_of_the_window_scaled_with_their_aspect_kept(console, names):
    colours = {"front": (255, 0, 0), "wrist": (0, 0, 255)}
    drawn = console.show(ConsoleStatus(source=Source.POLICY, cameras={n: solid(colours[n]) for n in names}))
    pixels = pygame.surfarray.array3d(console.surface)
    shown = sum(int((np.abs(pixels.astype(int) - colours[n]).sum(axis=2) == 0).sum()) for n in names)
    assert shown > (0.5 if len(names) == 2 else 0.45) * 1280 * 720
    for name in names:
        rect = drawn[f"camera:{name}"]
        assert rect.w / rect.h == pytest.approx(128 / 96, rel=0.01)
        label = region(console.surface, pygame.Rect(rect.x, rect.y, 100, 36))
        assert (label.min(axis=2) > 200).sum() > 30  # the camera's name, in light text on its tag


def test_the_layout_gives_two_cameras_more_than_half_the_window():
    geometry = layout((1280, 720), [(96, 128), (96, 128)])
    assert sum(r.w * r.h for r in geometry.cameras) > 0.5 * 1280 * 720
    a, b = geometry.cameras
    assert not a.colliderect(b) and not a.colliderect(geometry.panel) and not b.colliderect(geometry.panel)


# ----------------------------------------------------------------------------- numbers
def test_doubt_gauge_fills_and_turns_red_past_its_threshold(console):
    def gauge_pixels(doubt):
        drawn = console.show(ConsoleStatus(doubt=doubt, doubt_threshold=0.05))
        return region(console.surface, drawn["gauge"])

    calm, alarmed = gauge_pixels(0.02), gauge_pixels(0.09)
    green = lambda a: ((a[..., 1] > 150) & (a[..., 0] < 120)).sum()
    red = lambda a: ((a[..., 0] > 200) & (a[..., 1] < 80)).sum()
    assert green(calm) > 0 and red(calm) == 0
    assert red(alarmed) > green(alarmed)
    assert ConsoleStatus(doubt=0.09, doubt_threshold=0.05).doubt_alarm


def test_the_doubt_gauge_carries_its_number_and_threshold(console):
    status = ConsoleStatus(doubt=0.031, doubt_threshold=0.05)
    assert doubt_label(status).startswith("doubt 0.031 rad") and "0.050" in doubt_label(status)
    assert doubt_label(ConsoleStatus()).startswith("doubt -")
    drawn = console.show(status)
    text = region(console.surface, drawn["doubt"])
    assert (text.min(axis=2) > 200).sum() > 100  # the label is drawn, in bright (current) text


@pytest.mark.parametrize("name", ["latency", "doubt", "rate"])
def test_a_stale_value_is_drawn_grey_and_says_so(console, name):
    status = {"server_latency_ms": 12.5, "doubt": 0.031, "step_rate_hz": 20.0}
    fresh = region(console.surface, console.show(ConsoleStatus(**status))[name])
    stale_status = ConsoleStatus(**status, stale=frozenset({name}))
    stale = region(console.surface, console.show(stale_status)[name])
    assert fresh.max() >= 220
    assert stale.max() <= max(STALE) + 2 and (stale.max(axis=2) > 90).sum() > 50  # drawn, but only in grey
    label = {"latency": latency_label, "doubt": doubt_label, "rate": rate_label}[name]
    assert label(stale_status).endswith("(stale)") and not label(ConsoleStatus(**status)).endswith("(stale)")


def test_time_left_turns_warning_coloured_in_the_last_ten_seconds(console):
    def yellow(time_left):
        drawn = console.show(ConsoleStatus(episode_index=3, episodes_total=10, time_left_s=time_left))
        a = region(console.surface, drawn["time"])
        return ((a[..., 0] > 240) & (a[..., 1] > 190) & (a[..., 2] < 100)).sum()

    assert yellow(30.0) == 0
    assert yellow(7.0) > 50
    assert time_label(ConsoleStatus(time_left_s=12.2)) == "12 s left"
    assert time_label(ConsoleStatus(time_left_s=95.0)) == "1:35 left"


def test_warnings_are_drawn_in_warning_colour(console):
    console.show(ConsoleStatus(warnings=["gamepad unplugged: the arm holds"]))
    pixels = pygame.surfarray.array3d(console.surface)
    yellow = (pixels[..., 0] > 240) & (pixels[..., 1] > 190) & (pixels[..., 2] < 100)
    assert yellow[:, 100:].sum() > 200


def test_the_prompt_is_shown_large_only_between_episodes(console):
    cams = {"front": solid((255, 0, 0)), "wrist": solid((0, 0, 255))}
    running = console.show(ConsoleStatus(cameras=cams, phase="running", prompt="press n / X to start"))
    assert "prompt" not in running
    drawn = console.show(ConsoleStatus(cameras=cams, phase="waiting", prompt="press n / X to start episode 3 of 10",
                                       last_episode="episode 2: success, 240 steps, saved ep_0002.hdf5"))
    box = drawn["prompt"]
    assert box.colliderect(drawn["camera:front"]) and box.h >= 60
    text = region(console.surface, box)
    assert (text.min(axis=2) > 200).sum() > 1500  # large light text on the dark box


# ----------------------------------------------------------------------------- keys that apply
def rollout(**kw) -> ConsoleStatus:
    return ConsoleStatus(**{"session_kind": "rollout", "phase": "running"} | kw)


def test_a_keyboard_alone_cannot_take_over_in_dead_man_mode_and_the_console_says_so():
    hints = hints_for(rollout(devices=["keyboard"], takeover_mode="deadman", source=Source.POLICY))
    assert NO_KEYBOARD_DEADMAN in hints
    assert not any(h.startswith("t") and "take over" in h for h in hints if h != NO_KEYBOARD_DEADMAN)
    assert "enter: success" in hints  # labelling still works from the keyboard


def test_dead_man_mode_with_a_gamepad_shows_the_shoulder_button_and_no_toggle():
    for devices in (["gamepad"], ["keyboard", "gamepad"]):
        hints = hints_for(rollout(devices=devices, takeover_mode="deadman", source=Source.POLICY))
        assert "hold LB: take over while held" in hints
        assert not any("t / A" in h or h.startswith("A:") for h in hints)
        assert NO_KEYBOARD_DEADMAN not in hints


def test_toggle_mode_shows_the_toggle_key_of_each_connected_device_and_no_dead_man_hint():
    assert hints_for(rollout(devices=["keyboard", "gamepad"], source=Source.POLICY))[0] == "t / A: take over"
    assert hints_for(rollout(devices=["keyboard"], source=Source.HUMAN))[0] == "t: hand back"
    assert hints_for(rollout(devices=["gamepad"], source=Source.HUMAN))[0] == "A: hand back"
    for source in Source:
        assert not any("LB" in h for h in hints_for(rollout(devices=["keyboard", "gamepad"], source=source)))


def test_a_collect_session_shows_only_the_labels_and_waiting_only_the_start_key():
    both = ["keyboard", "gamepad"]
    assert hints_for(ConsoleStatus(session_kind="collect", devices=both, source=Source.HUMAN)) == [
        "enter / Start: success", "b / Back: failure", "x / B: discard"]
    for kind in ("collect", "rollout"):
        for phase in ("waiting", "reset"):
            assert hints_for(ConsoleStatus(session_kind=kind, phase=phase, devices=both)) == ["n / X: start the episode"]
    assert hints_for(ConsoleStatus(phase="waiting", devices=["keyboard"])) == ["n: start the episode"]
    assert hints_for(ConsoleStatus(phase="label", devices=["gamepad"])) == ["Start: success", "Back: failure", "B: discard"]
    assert hints_for(ConsoleStatus(phase="done", devices=both)) == []


def test_hints_name_only_connected_devices_and_say_when_none_has_buttons():
    assert hints_for(ConsoleStatus(devices=[]))[0].startswith("no input device connected")
    assert hints_for(ConsoleStatus(devices=["leader"])) == [
        "leader: no buttons; run hgd-device keyboard (or gamepad) to start and label"]
    hints = hints_for(rollout(devices=["leader", "keyboard"], source=Source.POLICY))
    assert hints[0] == "t: take over" and not any("/" in h for h in hints)


def test_the_keys_listed_are_the_keys_the_devices_send():
    for action, keys in KEYS.items():
        key = "\r" if keys["keyboard"] == "enter" else keys["keyboard"]
        assert EVENT_KEYS[key] == DeviceEvent(action)
        assert XBOX_BUTTONS[GAMEPAD_PRESETS["xbox"].buttons[action]] == keys["gamepad"]
    for name, preset in GAMEPAD_PRESETS.items():  # every pad can start an episode, on a button of its own
        indices = list(preset.buttons.values())
        assert "start" in preset.buttons and len(set(indices)) == len(indices), name
        assert preset.buttons["start"] not in (preset.deadman, preset.fine), name
        pressed = [i == preset.buttons["start"] for i in range(12)]
        assert GamepadMapper(preset).map([0.0] * 6, pressed)[1] == ["start"]


@pytest.mark.parametrize("kind", ["collect", "rollout"])
@pytest.mark.parametrize("mode", ["toggle", "deadman"])
@pytest.mark.parametrize("phase", PHASES)
def test_every_phase_and_mode_draws_with_its_hints_in_the_footer(console, kind, mode, phase):
    status = ConsoleStatus(source=Source.HOLD if phase != "running" else Source.HUMAN, session_kind=kind,
                           takeover_mode=mode, phase=phase, devices=["keyboard"], episode_index=2, episodes_total=5,
                           time_left_s=20.0, cameras={"front": solid((0, 200, 0))})
    drawn = console.show(status)
    footer = region(console.surface, drawn["hints"])
    assert ((footer.min(axis=2) > 120).sum() > 100) == bool(hints_for(status))
    assert ("prompt" in drawn) == (phase != "running")
    assert ("time" in drawn) == (phase == "running")


# ----------------------------------------------------------------------------- opening the window
def run_python(code: str, env_changes: dict, timeout: float = 120) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in env_changes or env_changes[k] is not None}
    env |= {k: v for k, v in env_changes.items() if v is not None}
    env["PYTHONPATH"] = str(ROOT)
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], env=env, capture_output=True, text=True,
                          timeout=timeout, cwd=ROOT, check=False)


SIM_THEN_CONSOLE = """
    import os
    import sim
    from hgdagger.common.types import Source
    from teleop.console import ConsoleStatus, OperatorConsole
    env = sim.make_env("pick_place", cameras=("front", "wrist"), image_size=(96, 128))
    obs, _ = env.reset(seed=0)
    cams = {"front": obs["front_rgb"], "wrist": obs["wrist_rgb"]}
    assert cams["front"].std() > 1, "the sim rendered nothing"
    console = OperatorConsole(window=True)  # on the thread whose GL context MuJoCo just made current
    console.show(ConsoleStatus(source=Source.HUMAN, cameras=cams))
    obs, *_ = env.step(env.action_space.sample())  # and the sim renders again after the window opened
    console.show(ConsoleStatus(source=Source.HUMAN, cameras={"front": obs["front_rgb"]}))
    import pygame
    print("console opened on", pygame.display.get_driver())
    print("framebuffer acceleration", os.environ.get("SDL_FRAMEBUFFER_ACCELERATION"))
    console.close()
    env.close()
"""


def has_backend(backend: str) -> bool:
    return bool(ctypes.util.find_library({"egl": "EGL", "osmesa": "OSMesa"}[backend]))


@pytest.mark.parametrize("backend", ["egl", "osmesa"])
def test_the_console_opens_beside_the_sims_offscreen_rendering(backend):
    if not has_backend(backend):
        pytest.skip(f"no {backend} library here")
    done = run_python(SIM_THEN_CONSOLE, {"MUJOCO_GL": backend, "PYOPENGL_PLATFORM": backend, "SDL_VIDEODRIVER": "dummy"})
    assert done.returncode == 0, done.stderr[-2000:]
    assert "console opened on dummy" in done.stdout
    assert "framebuffer acceleration 0" in done.stdout  # the window never asks SDL for a GL context


@pytest.fixture
def xvfb():
    """An X server of our own (Xvfb), where one is installed: the real window, not SDL's dummy."""
    if not shutil.which("Xvfb"):
        pytest.skip("Xvfb is not installed")
    read, write = os.pipe()
    server = subprocess.Popen(["Xvfb", "-displayfd", str(write), "-screen", "0", "1280x800x24", "-nolisten", "tcp"],
                              pass_fds=(write,), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    os.close(write)
    with os.fdopen(read) as f:
        number = f.readline().strip()
    yield f":{number}"
    server.terminate()
    server.wait(timeout=10)


@pytest.mark.parametrize("backend", ["egl", "osmesa", None])
def test_the_console_window_opens_on_a_display_whatever_the_sims_gl_backend(xvfb, backend):
    """The reported crash: MUJOCO_GL=egl and a display made X fail with BadAccess (X_GLXMakeCurrent)."""
    if backend and not has_backend(backend):
        pytest.skip(f"no {backend} library here")
    done = run_python(SIM_THEN_CONSOLE, {"DISPLAY": xvfb, "SDL_VIDEODRIVER": None, "MUJOCO_GL": backend,
                                         "PYOPENGL_PLATFORM": backend, "SDL_FRAMEBUFFER_ACCELERATION": None})
    assert done.returncode == 0, done.stderr[-2000:]
    assert "console opened on x11" in done.stdout


def test_without_a_display_one_line_says_what_to_set():
    code = """
        import time
        from teleop.console import ConsoleStatus
        from teleop.operator_setup import ConsoleThread
        class Runtime:
            def console_status(self):
                return ConsoleStatus()
        thread = ConsoleThread(Runtime())
        assert thread.console is None and thread.problem
        thread.stop()
        print("session goes on")
    """
    done = run_python(code, {"DISPLAY": None, "WAYLAND_DISPLAY": None, "SDL_VIDEODRIVER": None}, timeout=60)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "session goes on" in done.stdout
    lines = [line for line in done.stderr.splitlines() if "console" in line]
    assert len(lines) == 1 and NO_DISPLAY in lines[0]
    assert "Traceback" not in done.stderr


def test_the_console_thread_derives_its_hints_and_draws_without_blocking(tmp_path):
    """ConsoleThread asks the runtime for a status only (no hints) and draws it on its own thread."""
    asked = []

    class Runtime:
        def console_status(self, *args):
            asked.append(args)
            return ConsoleStatus(devices=["keyboard"], takeover_mode="deadman", source=Source.POLICY)

    from teleop.operator_setup import ConsoleThread

    png = tmp_path / "console.png"
    thread = ConsoleThread(Runtime(), fps=50.0, png_path=str(png))
    try:
        for _ in range(100):
            if png.exists() and len(asked) >= 2:
                break
            time.sleep(0.05)
    finally:
        thread.stop()
    assert thread.problem is None and png.exists()
    assert asked and all(args == () for args in asked)


def test_chunk_spread_is_zero_for_agreeing_samples_and_grows_with_disagreement():
    same = np.repeat(np.random.default_rng(0).normal(size=(1, 16, 8)), 5, axis=0)
    assert chunk_spread(same) == pytest.approx(0.0)
    split = np.concatenate([np.full((3, 16, 8), -1.0), np.full((3, 16, 8), 1.0)])
    assert chunk_spread(split) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="n >= 2"):
        chunk_spread(np.zeros((1, 16, 8)))
