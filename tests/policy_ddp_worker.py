"""Run under torchrun by test_policy_ddp.py: DDP-train the bimodal task, save each rank's weights."""

import sys
from pathlib import Path

import torch

from policy_server import synthetic_chunks as synthetic
from policy_server.model import ModelConfig
from policy_server.networks import NetConfig
from policy_server.train import TrainConfig, train

torch.set_num_threads(1)
out = Path(sys.argv[1])
cfg = TrainConfig(
    model=ModelConfig(net=NetConfig(hidden=64, depth=1, cond_dim=32, obs_hidden=32, time_dim=16)),
    steps=int(sys.argv[2]) if len(sys.argv) > 2 else 150, batch_size=64, lr=2e-3, warmup_steps=10,
    ema_decay=0.99, val_every=50, ckpt_every=50, device="cpu",
)
r = train(synthetic.bimodal(800, horizon=4), cfg, out / "checkpoints", progress=False)
torch.save({k: v.detach().clone() for k, v in r.model.state_dict().items()}, out / f"rank{r.rank}_of{r.world_size}.pt")
print(f"rank {r.rank}/{r.world_size} done, loss {r.train_loss:.4f}, {r.samples_per_s:.0f} samples/s")
