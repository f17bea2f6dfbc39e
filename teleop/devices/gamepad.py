"""Gamepads and joysticks through pygame: sticks move the gripper, buttons carry the operator's intent.

Button maps are data: a preset per common pad (SDL's Linux numbering differs between pads and
drivers), overridable from a JSON file. A foot pedal that shows up as a joystick uses the same map.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np

from teleop.cartesian import apply_dead_zone
from teleop.intent import DeviceEvent, TeleopIntent


@dataclass(frozen=True)
class ButtonMap:
    axis_x: int = 1  # left stick vertical: push away from you -> towards the robot (-x)
    axis_y: int = 0  # left stick horizontal -> +y (right as seen from the front camera)
    axis_z: int = 4  # right stick vertical: push up -> up
    axis_yaw: int = 3
    axis_gripper: int = 5  # right trigger: squeeze to close (rest -1 .. pressed +1)
    invert_x: bool = False
    invert_z: bool = True
    deadman: int = 4  # left shoulder: hold to intervene
    fine: int = 5  # right shoulder: hold for slow, precise motion
    buttons: dict = field(default_factory=lambda: {"takeover": 0, "discard": 1, "start": 2, "reset": 3, "failure": 6,
                                                   "success": 7})

    @classmethod
    def load(cls, path: str | Path) -> "ButtonMap":
        try:
            raw = json.loads(Path(path).read_text())
            return replace(GAMEPAD_PRESETS[raw.pop("preset", "xbox")], **raw)
        except (OSError, json.JSONDecodeError, TypeError, KeyError) as exc:
            raise ValueError(f"button map {path} is not valid: {exc!r} (fields: {list(asdict(cls()))})") from None


GAMEPAD_PRESETS: dict[str, ButtonMap] = {
    "xbox": ButtonMap(),
    "dualshock": ButtonMap(axis_z=4, axis_yaw=3, axis_gripper=5,
                           buttons={"takeover": 0, "discard": 1, "reset": 2, "start": 3, "failure": 8, "success": 9}),
    "generic": ButtonMap(axis_z=3, axis_yaw=2, axis_gripper=-1, deadman=4, fine=5,
                         buttons={"takeover": 0, "discard": 1, "start": 2, "reset": 3, "failure": 8, "success": 9}),
}


@dataclass
class GamepadMapper:
    """Pure mapping from raw axes/buttons to intent, with button-edge detection."""

    button_map: ButtonMap = ButtonMap()
    dead_zone: float = 0.12
    fine_scale: float = 0.3

    def __post_init__(self):
        self._previous: dict[str, bool] = {}

    def map(self, axes: list[float], buttons: list[bool]) -> tuple[np.ndarray, list[str], bool]:
        """(twist [vx, vy, vz, yaw, gripper], events pressed since the last call, dead-man held)."""
        m = self.button_map

        def axis(i: int) -> float:
            return apply_dead_zone(float(axes[i]), self.dead_zone) if 0 <= i < len(axes) else 0.0

        def button(i: int) -> bool:
            return 0 <= i < len(buttons) and bool(buttons[i])

        scale = self.fine_scale if button(m.fine) else 1.0
        vx = axis(m.axis_x) * (-1.0 if m.invert_x else 1.0)
        vz = axis(m.axis_z) * (-1.0 if m.invert_z else 1.0)
        trigger = float(axes[m.axis_gripper]) if 0 <= m.axis_gripper < len(axes) else -1.0
        twist = np.array([vx * scale, axis(m.axis_y) * scale, vz * scale, -axis(m.axis_yaw) * scale, (trigger + 1.0) / 2.0])
        events = []
        for name, index in m.buttons.items():
            pressed = button(index)
            if pressed and not self._previous.get(name, False):
                events.append(DeviceEvent(name).value)
            self._previous[name] = pressed
        return twist, events, button(m.deadman)


class PygameGamepad:
    """The first joystick pygame sees; reports itself disconnected (and the arm holds) when unplugged."""

    name = "gamepad"

    def __init__(self, mapper: GamepadMapper = GamepadMapper(), index: int = 0):
        import pygame

        self.pygame = pygame
        pygame.init()
        pygame.joystick.init()
        self.mapper = mapper
        self.index = index
        self.stick = None
        self._open()

    def _open(self) -> None:
        pg = self.pygame
        if pg.joystick.get_count() > self.index:
            self.stick = pg.joystick.Joystick(self.index)
            self.stick.init()

    def read(self) -> TeleopIntent:
        pg = self.pygame
        for event in pg.event.get():
            if event.type == pg.JOYDEVICEREMOVED:
                self.stick = None
            elif event.type == pg.JOYDEVICEADDED and self.stick is None:
                self._open()
        if self.stick is None:
            return TeleopIntent(device=self.name, connected=False,
                                status="gamepad unplugged: plug it back in to continue (the arm holds)")
        axes = [self.stick.get_axis(i) for i in range(self.stick.get_numaxes())]
        buttons = [bool(self.stick.get_button(i)) for i in range(self.stick.get_numbuttons())]
        twist, events, deadman = self.mapper.map(axes, buttons)
        return TeleopIntent(device=self.name, events=events, deadman=deadman, twist=twist, status=self.stick.get_name())

    def close(self) -> None:
        self.pygame.joystick.quit()
