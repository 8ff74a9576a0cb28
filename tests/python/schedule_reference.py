"""The learning rate of every epoch against timm's CosineLRScheduler, built by timm's
create_scheduler from DeiT's main.py arguments (its argparse defaults, the recipe's values from
the INI files) and stepped as DeiT steps it: lr_scheduler.step(epoch) after each epoch, so
epoch 0 trains at the initial rate and epoch e at the rate of e - 1. Exit code 0: every epoch
within 1e-12 relative (both sides evaluate the same double-precision formula)."""
import argparse
import configparser
import sys

import torch
from timm.scheduler import create_scheduler

parser = argparse.ArgumentParser()
parser.add_argument("--ini", action="append", required=True, help="INI files, later ones win")
parser.add_argument("--ranks", type=int, required=True)
parser.add_argument("--lr", required=True, help="torch dict with 'lr': tleg's rate per epoch")
args = parser.parse_args()

config = configparser.ConfigParser()
config.read(args.ini)
optim = config["optim"]
# DeiT's main.py: args.lr scaled by batch_size * world_size / 512, then create_scheduler(args).
deit = argparse.Namespace(
    sched="cosine", epochs=optim.getint("epochs"), lr_noise=None, lr_noise_pct=0.67,
    lr_noise_std=1.0, warmup_lr=optim.getfloat("warmup-lr"), min_lr=optim.getfloat("min-lr"),
    decay_epochs=30, warmup_epochs=optim.getint("warmup-epochs"), cooldown_epochs=10,
    patience_epochs=10, decay_rate=0.1)
lr = optim.getfloat("lr") * optim.getint("batch") * args.ranks / 512.0
optimizer = torch.optim.AdamW([torch.nn.Parameter(torch.zeros(1))], lr=lr)
scheduler, _ = create_scheduler(deit, optimizer)
reference = []
for epoch in range(deit.epochs):
    reference.append(optimizer.param_groups[0]["lr"])  # what train_one_epoch uses
    scheduler.step(epoch)

tleg = torch.load(args.lr, weights_only=True)["lr"].tolist()
if len(tleg) != len(reference):
    print(f"tleg has {len(tleg)} epochs, DeiT {len(reference)}")
    sys.exit(1)
worst = max(abs(a - b) / b for a, b in zip(tleg, reference))
print(f"{deit.epochs} epochs, peak {lr:g}: max relative difference {worst:.3g}; "
      f"mean rate tleg {sum(tleg) / len(tleg):.6g}, DeiT {sum(reference) / len(reference):.6g}")
for epoch, (a, b) in enumerate(zip(tleg, reference)):
    if abs(a - b) > 1e-12 * b:
        print(f"epoch {epoch}: tleg {a!r}, DeiT {b!r}")
sys.exit(0 if worst <= 1e-12 else 1)
