"""Replaying a recorded episode's actions on a robot (``hgd-replay --robot``): through the runtime,
its safety filter and its ramps, at the robot's own rate, so a demonstration can be checked on the
arm, or on its twin, before anyone trains on it."""

from __future__ import annotations

import numpy as np

from recorder.dataset import RecordedEpisode
from recorder.replay import Replay


def replay_on_robot(ep: RecordedEpisode, driver, seed: int | None, camera: str | None = None) -> Replay:
    """Command ``ep.actions`` one per tick (the arm starts where it is: a simulated robot is reset to
    the episode's seed first); frames from ``camera`` (or the robot's first), and the largest gap
    between the joints reached and the joints recorded."""
    from teleop.gate import GateConfig, TakeoverGate, TakeoverMode
    from teleop.human_side import FunctionInput, HumanSide
    from teleop.runtime import RobotRuntime, RuntimeConfig

    actions = np.asarray(ep.actions, np.float64)
    if actions.shape[1] != driver.spec.action_dim:
        raise ValueError(f"the episode's actions have {actions.shape[1]} values, this robot takes "
                         f"{driver.spec.action_dim}: was it recorded on another robot?")
    cams = [k for k in driver.spec.observation_shapes if k.endswith("_rgb")]
    key = f"{camera.removesuffix('_rgb')}_rgb" if camera else (cams[0] if cams else None)
    if key is not None and key not in cams:
        raise ValueError(f"the robot has no camera {camera!r}; it has {', '.join(c[:-4] for c in cams) or 'none'}")
    frames, gaps, recorded = [], [], ep.obs.get("joint_pos")

    def hands(step: int, obs) -> np.ndarray | None:
        if key is not None:
            frames.append(obs[key].copy())
        if recorded is not None and step < len(recorded):
            gaps.append(float(np.max(np.abs(obs["joint_pos"] - recorded[step]))))
        return actions[step] if step < len(actions) else None

    human = HumanSide(TakeoverGate(GateConfig(mode=TakeoverMode.DEADMAN, start_in_human=True)), FunctionInput(hands))
    runtime = RobotRuntime(driver, None, RuntimeConfig(realtime=False), human=human)
    runtime.start()
    driver.reset(seed)
    report = runtime.run_episode(len(actions), task="replay", kind="replay")
    notes = [f"{report.clipped} of {report.steps} commands were clipped by the safety filter"] if report.clipped else []
    if report.hold_steps:
        notes.append(f"the arm held for {report.hold_steps} steps (a fault, or a command refused)")
    return Replay("robot", frames, driver.spec.control_hz, seed=seed, max_joint_error=max(gaps) if gaps else None,
                  notes=notes)
