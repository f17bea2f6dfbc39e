"""The MuJoCo arm: tasks (gymnasium environments), scripted experts, the simulated supervisor, the sim
robot driver and Cartesian model, rendering, evaluation and replay.

Importing ``sim`` registers the tasks with gymnasium (``gymnasium.make("hgd/PickPlace-v0")``) and,
picks a headless OpenGL backend (EGL, else OSMesa) for offscreen rendering before MuJoCo is loaded,
unless MUJOCO_GL is already set.
"""

from sim.rendering import select_gl_backend

select_gl_backend()

from sim.registry import (  # noqa: E402
    check_task,
    episode_limit,
    get_task,
    make_driver,
    make_env,
    make_expert,
    make_supervisor,
    register_task,
    task_milestones,
    task_names,
)
from sim import so101_tasks  # noqa: E402,F401  (registers so101_reach: its module, so registry.py need not name it)

__all__ = ["check_task", "episode_limit", "get_task", "make_driver", "make_env", "make_expert", "make_supervisor", "register_task",
           "task_milestones", "task_names"]
