"""The averaging trap, measured: flow matching vs L2 on the same backbone and the same demonstrations.

For each training seed: collect scripted-expert demonstrations (detour's expert passes the pillar
left or right 50/50), train a flow policy and an L2 policy with identical backbone and settings,
evaluate each over many episodes; report success rates (mean and spread over seeds) and save a
picture of sampled chunks at the fork and of rollout paths, top-down.

    hgd-bench-multimodal                      # detour, 3 seeds x 100 episodes
    hgd-bench-multimodal --task reach --demos 30 --heads flow
    hgd-bench-multimodal --observations pixels --demos 100 --steps 6000 --batch-size 64 --jobs 2   # from cameras
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

from hgdagger.benchmarks.parallel import map_seeds
from hgdagger.common import threads
from hgdagger.common.observation_sets import OBSERVATION_SETS, ObservationSet, observation_set
from hgdagger.common.stats import wilson_interval
from hgdagger.cli.arguments import add_threads_argument
from policy_server.model import ModelConfig
from policy_server.networks import NetConfig
from policy_server.policy import FlowPolicy
from policy_server.data import episodes_to_dataset
from sim.demos import collect_demos
from sim.evaluation import evaluate
from policy_server.train import TrainConfig, train


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0] + " Trains on CPU in minutes; writes JSON and a PNG.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("--task", default="detour", help="sim task (detour is the multimodal one)")
    p.add_argument("--heads", nargs="+", default=["flow", "l2"], help="policy heads to compare")
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2], help="training seeds (and demo sets)")
    p.add_argument("--demos", type=int, default=300, help="expert demonstrations per seed (equal numbers per side on detour)")
    p.add_argument("--episodes", type=int, default=100, help="evaluation episodes per policy")
    p.add_argument("--steps", type=int, default=3000, help="training steps")
    p.add_argument("--batch-size", type=int, default=256, help="training batch size (default: 256)")
    p.add_argument("--horizon", type=int, default=16, help="chunk length H")
    p.add_argument("--execute", type=int, default=8, help="actions executed from each chunk before replanning")
    p.add_argument("--net", default="mlp", help="velocity network (see policy_server.networks.VELOCITY_NETS)")
    p.add_argument("--relative-to", default="joint_pos", help="learn joint targets relative to this obs key ('': absolute)")
    p.add_argument("--obs-keys", nargs="+", help="low-dim observation keys (default: all the task provides)")
    p.add_argument("--observations", choices=sorted(OBSERVATION_SETS), default="state",
                   help="what the policies see (pixels: joints, gripper and two cameras; the expert sees all)")
    p.add_argument("--action-noise", type=float, default=0.02,
                   help="DART noise (rad) on executed expert joint targets while demos are recorded; 0 = clean demos")
    p.add_argument("--noise-correlation", type=float, default=0.0,
                   help="AR(1) correlation of the DART noise from step to step (0 = white noise)")
    p.add_argument("--chunk-labels", choices=["plan", "recorded"], default="plan",
                   help="with --action-noise, label each step's chunk with the expert's clean plan from that state "
                   "(plan) or with the noisy episode's next H actions (recorded)")
    p.add_argument("--unbalanced", action="store_true",
                   help="keep every successful demo instead of equal numbers per mode (side)")
    p.add_argument("--no-inpaint", action="store_true",
                   help="replan without passing the previous chunk's rest as the real-time-chunking prefix")
    add_threads_argument(p, "each of the --jobs processes")
    p.add_argument("--jobs", type=int, default=1, help="seeds run in parallel processes")
    p.add_argument("--out", default="benchmarks/results", help="folder for the JSON and the PNG")
    p.add_argument("--ckpt-dir", default="runs/bench_multimodal", help="folder for the trained checkpoints")
    return p.parse_args(argv)


def fork_samples(policy: FlowPolicy, obs: dict[str, np.ndarray], n: int = 64) -> np.ndarray:
    """End-effector paths (n, H, 3) of `n` sampled chunks at one observation (FK of joint targets)."""
    import sim.arm as arm
    from sim.kinematics import ArmKinematics
    from sim.scene import load_model

    kin = ArmKinematics(load_model(), arm.TCP_SITE, arm.JOINT_NAMES)
    chunks = policy.sample(obs, n, seed=0)
    return np.array([[kin.site_pose(a[:7])[0] for a in c] for c in chunks])


def fork_observation(task: str, seed: int, seen: ObservationSet | None = None) -> dict[str, np.ndarray]:
    """The state where the expert is about to choose: on detour, driven there by the expert itself
    (its coin does not matter before the fork); on other tasks, the first state. With `seen`'s
    cameras rendered, for a policy that reads them."""
    import sim

    cameras = seen.cameras if seen is not None else ()
    env = sim.make_env(task, cameras=cameras, image_size=seen.image_size) if cameras else sim.make_env(task)
    expert = sim.make_expert(task)
    obs, _ = env.reset(seed=seed)
    expert.reset(seed=seed)
    if "obstacle_pos" in obs:
        from sim.experts.detour import FORK_DISTANCE

        for _ in range(env.max_steps):
            if obs["ee_pos"][0] >= obs["obstacle_pos"][0] - FORK_DISTANCE - 0.02:
                break
            obs, *_ = env.step(expert.act(obs))
    env.close()
    return obs


def fork_lateral(policy: FlowPolicy, task: str, seen: ObservationSet | None = None, starts: int = 20, n: int = 16,
                 seed: int = 100_000) -> dict[str, float]:
    """How sampled chunks leave the fork of `starts` episodes: the lateral (y; detour's way runs
    along x) displacement of the chunk's end. An averaging policy goes straight (|dy| ~ 0) toward the
    obstacle; a multimodal one commits left or right."""
    dy = []
    for s in range(starts):
        obs = fork_observation(task, seed + s, seen)
        paths = fork_samples(policy, obs, n)
        dy.append(paths[:, -1, 1] - obs["ee_pos"][1])
    d = np.concatenate(dy)
    return {"mean_abs_dy_m": float(np.abs(d).mean()), "committed_fraction": float((np.abs(d) > 0.03).mean()),
            "left_fraction": float((d < -0.03).mean()), "right_fraction": float((d > 0.03).mean())}


def plot(results: dict, path: Path, task: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    heads = list(results)
    fig, axes = plt.subplots(2, len(heads), figsize=(5.5 * len(heads), 9), squeeze=False)
    for j, head in enumerate(heads):
        r = results[head]
        for row, (paths, title) in enumerate(((r["fork"], "64 sampled chunks at the fork"), (r["paths"], "rollouts"))):
            ax = axes[row, j]
            obstacle = r.get("obstacle")
            if obstacle is not None:
                ax.add_patch(plt.Circle((obstacle[1], obstacle[0]), 0.04, color="purple", alpha=0.5))
            for k, pth in enumerate(paths):
                ok = r["ok"][k] if row == 1 else True
                ax.plot(pth[:, 1], pth[:, 0], color="tab:green" if ok else "tab:red", alpha=0.35, lw=1)
            if row == 0 and len(paths):
                ax.plot(paths[0][0, 1], paths[0][0, 0], "ko", ms=4)
            ax.set_title(f"{task} {head}: {title}" + (f" (success {r['success']:.2f})" if row == 1 else ""))
            ax.set_xlabel("y (m)")
            ax.set_ylabel("x (m)")
            ax.set_aspect("equal")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def result_name(args: argparse.Namespace) -> str:
    """detour, or detour_pixels: what the JSON, the PNG and the checkpoints are called."""
    return args.task if args.observations == "state" else f"{args.task}_{args.observations}"


def run_seed(args: argparse.Namespace, seed: int) -> dict:
    """Demos, training and evaluation of every head for one seed (runs in its own process with --jobs).
    Resumable: a head whose folder holds its result.json is not trained again."""
    torch.set_num_threads(args.threads)
    seen = observation_set(args.observations)
    out: dict = {"seed": seed, "rates": {}, "failures": {}, "pictures": {}, "fork": {}}
    ds = None
    for head in args.heads:
        folder = Path(args.ckpt_dir) / f"{result_name(args)}_{head}_seed{seed}"
        done = folder / "result.json"
        if done.exists():
            kept = json.loads(done.read_text())
            print(f"  {head:5s} seed {seed}: success {kept['rate']:.2f} (finished earlier: {done})", flush=True)
        else:
            ds = ds if ds is not None else seed_demos(args, seed, seen)
            kept = train_and_evaluate(args, seed, head, seen, ds, folder)
            done.write_text(json.dumps(kept))
        out["rates"][head], out["failures"][head], out["fork"][head] = kept["rate"], kept["failures"], kept["fork"]
        if kept.get("picture"):
            p = kept["picture"]
            out["pictures"][head] = p | {"fork": np.asarray(p["fork"]), "paths": [np.asarray(x) for x in p["paths"]]}
    return out


def seed_demos(args: argparse.Namespace, seed: int, seen: ObservationSet):
    """The seed's demonstrations, as a training set."""
    import sim

    demos = collect_demos(args.task, args.demos, seed=1000 * seed, action_noise=args.action_noise,
                          cameras=seen.cameras, image_size=seen.image_size,
                          noise_correlation=args.noise_correlation, progress=args.jobs == 1,
                          plan_horizon=args.horizon if args.chunk_labels == "plan" and args.action_noise > 0 else 0,
                          balance_modes=() if args.unbalanced else getattr(sim.make_expert(args.task), "modes", ()))
    modes = [d.attrs["mode"] for d in demos]
    sides = f", modes +1: {sum(m > 0 for m in modes)}, -1: {sum(m < 0 for m in modes)}" if any(modes) else ""
    print(f"seed {seed}: {len(demos)} demos, {sum(len(d.actions) for d in demos)} steps{sides}", flush=True)
    return episodes_to_dataset(demos, args.horizon)


def train_and_evaluate(args: argparse.Namespace, seed: int, head: str, seen: ObservationSet, ds, folder: Path) -> dict:
    """One head trained on `ds` into `folder` and evaluated; what the report needs of it, as JSON."""
    cfg = TrainConfig(lowdim_keys=args.obs_keys, steps=args.steps, batch_size=args.batch_size, seed=seed,
                      model=ModelConfig(head=head, net=NetConfig(velocity_net=args.net), relative_to=args.relative_to),
                      val_every=max(args.steps // 4, 1), ckpt_every=args.steps, control_period=0.05)
    seen.apply(cfg)
    if args.obs_keys:
        cfg.lowdim_keys = list(args.obs_keys)
    res = train(ds, cfg, folder, progress=args.jobs == 1)
    policy = FlowPolicy.load(res.checkpoint, device="cpu")
    ev = evaluate(policy, args.task, args.episodes, seed=100_000 + 1000 * seed, execute_steps=args.execute,
                  inpaint=not args.no_inpaint, progress=args.jobs == 1)
    fork = fork_lateral(policy, args.task, seen) if "obstacle_pos" in ds.obs else {}
    print(f"  {head:5s} seed {seed}: success {ev.success_rate:.2f} over {ev.episodes} episodes; "
          f"failures {ev.failures}; val loss {res.val_loss}; fork {fork}", flush=True)
    kept = {"rate": ev.success_rate, "failures": ev.failures, "fork": fork, "val_loss": res.val_loss}
    if seed == args.seeds[0]:
        obs0 = fork_observation(args.task, 100_000 + 1000 * seed, seen)
        obstacle = obs0.get("obstacle_pos")
        kept["picture"] = {"fork": fork_samples(policy, obs0).tolist(), "paths": [p.tolist() for p in ev.ee_paths[:60]],
                           "ok": [bool(x) for x in ev.successes[:60]], "success": ev.success_rate,
                           "obstacle": None if obstacle is None else np.asarray(obstacle).tolist()}
    return kept


def run(argv: list[str] | None = None) -> dict:
    """Run the benchmark; return the report it writes."""
    args = parse_args(argv)
    import sim

    if args.task not in sim.task_names():
        raise SystemExit(f"hgd-bench-multimodal: unknown task {args.task!r}; known tasks: {', '.join(sim.task_names())}")
    if args.chunk_labels == "plan" and args.action_noise > 0 and getattr(sim.make_expert(args.task), "moves_objects", True):
        raise SystemExit(f"hgd-bench-multimodal: {args.task}'s expert moves objects, so its clean plan cannot be worked "
                         "out from the arm alone: use --chunk-labels recorded, or --action-noise 0 for clean demos")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    t_start = time.time()
    jobs = max(1, min(args.jobs, len(args.seeds)))
    choice = threads.choose(args.threads, processes=jobs)  # (the jobs inherit it)
    args.threads = threads.apply(choice, "hgd-bench-multimodal", say=print).threads
    per_seed = map_seeds(run_seed, args, args.seeds, args.jobs)
    table = {h: [r["rates"][h] for r in per_seed] for h in args.heads}
    failures = {h: [r["failures"][h] for r in per_seed] for h in args.heads}
    forks = {h: [r["fork"][h] for r in per_seed] for h in args.heads}
    pictures = per_seed[0]["pictures"]
    print(f"\n{args.task}: success over {len(args.seeds)} seeds x {args.episodes} episodes ({time.time() - t_start:.0f} s)")
    print(f"{'head':6s} {'mean':>5s} {'sd':>5s} {'pooled 95% CI':>14s}  per seed  {'chunks at the fork committed to a side'}")
    summary = {}
    for head, rates in table.items():
        a = np.array(rates)
        wins = int(round(float(a.sum()) * args.episodes))
        lo, hi = wilson_interval(wins, args.episodes * len(a))
        committed = [f.get("committed_fraction", float("nan")) for f in forks[head]]
        summary[head] = {"mean": float(a.mean()), "sd": float(a.std(ddof=1)) if len(a) > 1 else 0.0,
                         "median": float(np.median(a)), "min": float(a.min()), "max": float(a.max()),
                         "pooled_ci95": [lo, hi], "episodes_per_seed": args.episodes, "per_seed": rates,
                         "failures": failures[head], "fork": forks[head]}
        print(f"{head:6s} {a.mean():5.2f} {summary[head]['sd']:5.2f} {lo:6.2f}-{hi:<7.2f}  "
              f"{' / '.join(f'{r:.2f}' for r in rates)}  {np.round(committed, 2).tolist()}")
    name = result_name(args)
    png = out / f"multimodal_{name}.png"
    plot(pictures, png, args.task)
    report = {"task": args.task, "observations": args.observations, "args": vars(args), "success": summary, "png": str(png)}
    (out / f"multimodal_{name}.json").write_text(json.dumps(report, indent=2))
    print(f"wrote {png} and {out / f'multimodal_{name}.json'}")
    return report


def main(argv: list[str] | None = None) -> int:
    run(argv)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
