"""tleg's initial values against timm: every trunc-normal tensor of a scratch ViT and of an
auxiliary net (the learngene's θ_B and θ_A) is redrawn with timm.layers.trunc_normal_(std=.02)
from the same generator state (torch.manual_seed(seed), tensors in tleg's drawing order, the
patch convolution's PyTorch-default uniform draw in between) and must be identical; norms and
biases must be their constants; and the pooled statistics must match those of a timm
VisionTransformer's own initialisation (std within 1 %, share beyond 2 std within 0.5 points:
with millions of values the sampling error is 0.05 % and 0.02 points, while a cut at 2 std
would give std -12 % and a share of 0). Exit code 0: all hold."""
import argparse
import math
import sys

import timm.models.vision_transformer  # noqa: F401  (used by the constructor text)
import torch
from timm.layers import trunc_normal_

parser = argparse.ArgumentParser()
parser.add_argument("--seed", type=int, required=True)
parser.add_argument("--scratch", required=True)
parser.add_argument("--aux", required=True)
parser.add_argument("--timm", required=True, help="constructor expression printed by tleg")
args = parser.parse_args()
ok = True


def fail(message):
    global ok
    ok = False
    print("FAIL", message)


def stats(tensors):
    values = torch.cat([t.flatten().double() for t in tensors])
    return values.std().item(), (values.abs() > 0.04).double().mean().item(), values.numel()


def check(path):
    state = torch.load(path, weights_only=True)
    torch.manual_seed(args.seed)
    drawn = []
    for name, value in state.items():
        if name.startswith("patch_embed.proj."):
            fan_in = state["patch_embed.proj.weight"][0].numel()
            bound = 1.0 / math.sqrt(fan_in)
            expected = torch.empty(value.shape).uniform_(-bound, bound)
        elif "norm" in name:
            one = name.endswith(".weight") and not name.startswith("theta_A.")
            expected = torch.full(value.shape, 1.0 if one else 0.0)
        elif name.endswith(".bias"):
            expected = torch.zeros(value.shape)
        else:
            expected = trunc_normal_(torch.empty(value.shape), std=0.02)
            drawn.append(value)
        if not torch.equal(value, expected):
            fail(f"{path}: {name} differs from the reference by "
                 f"{(value - expected).abs().max().item():.3g}")
    return drawn


tleg = check(args.scratch) + check(args.aux)
torch.manual_seed(0)
model = eval(args.timm)
reference = [p.detach() for n, p in model.named_parameters()
             if n == "pos_embed" or (p.dim() == 2 and not n.startswith("patch_embed"))]
(std_tleg, beyond_tleg, n_tleg), (std_timm, beyond_timm, n_timm) = stats(tleg), stats(reference)
print(f"trunc-normal values: tleg {n_tleg} std {std_tleg:.5f}, beyond 0.04: {beyond_tleg:.4%}; "
      f"timm {n_timm} std {std_timm:.5f}, beyond 0.04: {beyond_timm:.4%}")
if abs(std_tleg / std_timm - 1) > 0.01:
    fail("std differs by more than 1 %")
if abs(beyond_tleg - beyond_timm) > 0.005:
    fail("share beyond 2 std differs by more than 0.5 points")
sys.exit(0 if ok else 1)
