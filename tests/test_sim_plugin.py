"""Plugging another gymnasium environment in: registration, the driver, the supervisor's judgement."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

import examples.point_reach  # noqa: F401  (registers point_reach)
import sim
from sim.plugin import GymDriver, PluginTaskError, register_gym_task
from sim.supervisor import SupervisorConfig, action_divergence


def test_the_driver_runs_the_plugged_in_environment_with_its_expert_to_success():
    driver = sim.make_driver("point_reach", seed=3)
    assert isinstance(driver, GymDriver) and driver.spec.action_dim == 2 and driver.max_steps == 80
    expert = sim.make_expert("point_reach")
    obs = driver.observe()
    for _ in range(driver.max_steps):
        driver.command(expert.act(obs))
        obs = driver.observe()
        if driver.terminated or driver.truncated:
            break
    assert driver.outcome.success and np.linalg.norm(obs["pos"] - obs["goal"]) < 0.05
    sent = driver.command(np.array([5.0, -5.0]))  # clipped to the action box
    np.testing.assert_array_equal(sent, [1.0, -1.0])


def test_the_supervisor_judges_a_plugged_in_task_in_action_space():
    supervisor = sim.make_supervisor("point_reach", SupervisorConfig(divergence_steps=2, reaction_delay_s=0.0))
    obs = sim.make_env("point_reach").reset(seed=0)[0]
    agree = supervisor.step(obs, obs["goal"])
    assert agree.divergence == 0.0 and not agree.wants_control
    away = -obs["goal"]
    decisions = [supervisor.step(obs, away) for _ in range(3)]
    assert decisions[-1].wants_control and decisions[-1].divergence > 0.8
    assert action_divergence(np.array([0.0, 0.0]), np.array([0.0, 0.16]), np.array([2.0, 2.0])) == pytest.approx(0.8)


class _NoLimit(gym.Env):
    observation_space = gym.spaces.Box(-1, 1, (2,))
    action_space = gym.spaces.Box(-1, 1, (2,))


def test_environments_the_loop_cannot_drive_are_refused_with_the_reason():
    register_gym_task("no_limit", "tests/NoLimit-v0", expert=lambda obs: np.zeros(2), entry_point=_NoLimit)
    with pytest.raises(PluginTaskError, match="no step limit"):
        sim.make_env("no_limit")
    with pytest.raises(PluginTaskError, match="not a registered gymnasium id"):
        register_gym_task("ghost", "tests/Ghost-v0", expert=lambda obs: np.zeros(2))


# ---------------------------------------------------------------- plug-ins load like any module (issue 22)

ROOT = __import__("pathlib").Path(__file__).resolve().parents[1]
PYTHON = __import__("sys").executable


class _Sized(gym.Env):
    """A Box-observation environment with a constructor argument (the size of its state)."""

    def __init__(self, size: int = 3):
        self.observation_space = gym.spaces.Box(-1, 1, (size,))
        self.action_space = gym.spaces.Box(-1, 1, (2,))

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        return np.zeros(self.observation_space.shape, np.float32), {}

    def step(self, action):
        return np.zeros(self.observation_space.shape, np.float32), 0.0, False, False, {}


def test_constructor_arguments_and_step_limits_apply_even_to_an_id_registered_elsewhere():
    seen = []

    def expert(obs):
        seen.append(obs)
        return np.array([5.0, -0.5])  # outside the box: the loop clips it

    register_gym_task("sized", "tests/Sized-v0", expert=expert, entry_point=_Sized, max_episode_steps=50,
                      env_kwargs={"size": 39})
    driver = sim.make_driver("sized", seed=0)
    assert driver.max_steps == 50 and driver.spec.observation_shapes == {"state": (39,)}
    action = sim.make_expert("sized").act(driver.observe())
    assert isinstance(seen[-1], np.ndarray) and seen[-1].shape == (39,)  # the environment's own observation
    np.testing.assert_array_equal(action, [1.0, -0.5])
    # point_reach's id is registered with 80 steps; a second task over it with its own limit gets its own
    register_gym_task("point_reach_short", "examples/PointReach-v0", expert=examples.point_reach.expert,
                      max_episode_steps=20)
    assert sim.make_driver("point_reach_short").max_steps == 20 and sim.make_driver("point_reach").max_steps == 80


def test_registering_the_same_task_again_is_harmless_and_a_different_one_is_refused():
    register_gym_task("point_reach", "examples/PointReach-v0", expert=examples.point_reach.expert,
                      description="a point reaching a goal on a plane", entry_point=examples.point_reach.PointReachEnv,
                      max_episode_steps=80)  # what the module itself does: an import again changes nothing
    with pytest.raises(PluginTaskError, match="already registered to .*PointReachEnv.*another id"):
        register_gym_task("other", "examples/PointReach-v0", expert=examples.point_reach.expert, entry_point=_Sized)
    with pytest.raises(PluginTaskError, match="task 'point_reach' is already registered .*other settings"):
        register_gym_task("point_reach", "examples/PointReach-v0", expert=examples.point_reach.expert,
                          max_episode_steps=10)
    with pytest.raises(PluginTaskError, match="task 'reach' is already registered \\(a built-in task\\)"):
        register_gym_task("reach", "examples/PointReach-v0", expert=examples.point_reach.expert)
    with pytest.raises(PluginTaskError, match="action_kinds \\['sideways'\\]"):
        register_gym_task("kinds", "examples/PointReach-v0", expert=examples.point_reach.expert, action_kinds="sideways")


@pytest.mark.parametrize("returned, said", [("{'x': 1}", "returned dict {'x': 1}"),
                                           ("np.zeros(5)", "returned an array of shape (5,)"),
                                           ("obs[:2] * float('nan')", "returned an array of shape (2,)")])
def test_an_expert_that_returns_the_wrong_thing_is_one_line_naming_the_task(returned, said):
    register_gym_task("bad_expert", "tests/Sized-v1", expert=eval(f"lambda obs: {returned}", {"np": np}),
                      entry_point=_Sized, max_episode_steps=10)
    with pytest.raises(PluginTaskError, match=f"plug-in task bad_expert: its expert {__import__('re').escape(said)}"):
        sim.check_task("bad_expert")


BROKEN = {
    "import": "import not_a_module_anywhere\n",
    "shape": "from sim.plugin import register_gym_task\n"
             "register_gym_task('broken', 'examples/PointReach-v0', expert=lambda obs: obs['pos'][:1])\n",
    "raises": "from sim.plugin import register_gym_task\n"
              "register_gym_task('broken', 'examples/PointReach-v0', expert=lambda obs: obs[0:2])\n",
}


@pytest.mark.parametrize("how", sorted(BROKEN))
def test_hgd_loop_says_in_one_line_what_a_broken_plug_in_did_and_writes_nothing(tmp_path, how):
    (tmp_path / "my_tasks.py").write_text("import examples.point_reach\n" + BROKEN[how])
    run = tmp_path / "run"
    result = __import__("subprocess").run(
        [str(ROOT / ".venv" / "bin" / "hgd-loop"), "--plugin", "my_tasks", "--set", "task=broken", "--set",
         'relative_to=""', "--out", str(run), "--quiet"], cwd=tmp_path, capture_output=True, text=True, timeout=120,
        env={**__import__("os").environ, "PYTHONPATH": str(ROOT)})
    assert result.returncode == 2, result.stdout + result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    expected = {"import": "--plugin my_tasks: No module named 'not_a_module_anywhere'",
                "shape": "plug-in task broken: its expert returned an array of shape (1,)",
                "raises": "plug-in task broken: its expert raised TypeError: unhashable type"}[how]
    assert expected in lines[0]
    assert not run.exists()  # nothing written before the check


def test_a_module_in_the_current_folder_loads_as_python_m_would_find_it(tmp_path):
    """An installed command's sys.path holds its own folder, not the current one."""
    (tmp_path / "here_tasks.py").write_text("import here_helper\nfrom sim.plugin import register_gym_task\n"
                                            "import examples.point_reach as p\n"
                                            "register_gym_task('here', 'examples/PointReach-v0', expert=p.expert)\n")
    (tmp_path / "here_helper.py").write_text("")
    runner = tmp_path / "elsewhere" / "runner.py"
    runner.parent.mkdir()
    runner.write_text("import sim\nfrom sim.plugin import load_plugins\nload_plugins(['here_tasks'])\n"
                      "print(sim.make_driver('here').max_steps)\n")
    result = __import__("subprocess").run([PYTHON, str(runner)], cwd=tmp_path, capture_output=True, text=True,
                                          timeout=120, env={**__import__("os").environ, "PYTHONPATH": str(ROOT)})
    assert result.returncode == 0 and result.stdout.strip() == "80", result.stderr


def test_the_supervisor_and_expert_read_the_action_box_without_building_another_environment(monkeypatch):
    import sim.gym_driver as gd

    sim.make_driver("point_reach", seed=0)
    built = []
    monkeypatch.setattr(gd.gym, "make", lambda *a, **k: built.append(a))
    sim.make_supervisor("point_reach")
    sim.make_expert("point_reach")
    assert built == []


def test_evaluation_resets_its_drivers_between_episodes_instead_of_rebuilding_them(monkeypatch):
    """Same episodes, same results, whether each batch gets fresh drivers or reuses the first ones."""
    import sim.evaluation as evaluation
    from sim.expert_policy import ExpertChunkPolicy

    built = []
    real = evaluation.make_driver
    monkeypatch.setattr(evaluation, "make_driver", lambda *a, **k: built.append(a) or real(*a, **k))
    policy = ExpertChunkPolicy("reach", chunk_length=4)
    reused = evaluation.evaluate(policy, "reach", 4, seed=5, execute_steps=4, batch=2, progress=False)
    assert len(built) == 2
    fresh = evaluation.evaluate(policy, "reach", 4, seed=5, execute_steps=4, batch=4, progress=False)
    assert reused.successes == fresh.successes
    for a, b in zip(reused.ee_paths, fresh.ee_paths):
        np.testing.assert_allclose(a, b)


@pytest.mark.slow
def test_hgd_bench_dagger_takes_a_plug_in_and_its_spawned_workers_import_it_again(tmp_path):
    import json
    import os
    import subprocess

    (tmp_path / "far_tasks.py").write_text("from sim.plugin import register_gym_task\nimport examples.point_reach as p\n"
                                           "register_gym_task('far_point', 'examples/PointReach-v0', expert=p.expert)\n")
    tiny = ["--set", "demos=2", "--set", "rounds=1", "--set", "rollouts_per_round=1", "--set", "eval_episodes=2",
            "--set", "train_steps=20", "--set", "finetune_steps=10", "--set", "batch_size=32", "--set", 'relative_to=""']
    result = subprocess.run([str(ROOT / ".venv" / "bin" / "hgd-bench-dagger"), "--plugin", "far_tasks", "--task",
                             "far_point", "--seeds", "0", "1", "--jobs", "2", "--runs", "runs", "--out", "out", *tiny],
                            cwd=tmp_path, capture_output=True, text=True, timeout=900,
                            env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    report = json.loads((tmp_path / "out" / "dagger_far_point.json").read_text())
    assert [s["seed"] for s in report["per_seed"]] == [0, 1]
