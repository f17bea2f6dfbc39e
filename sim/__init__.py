"""The MuJoCo arm: tasks (gymnasium environments), scripted experts, the sim robot driver, rendering.

Importing ``sim`` registers the tasks with gymnasium: ``gymnasium.make("hgd/PickPlace-v0")``.
"""

from sim.registry import get_task, make_env, make_expert, register_task, task_names

__all__ = ["get_task", "make_env", "make_expert", "register_task", "task_names"]
