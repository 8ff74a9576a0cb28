"""Checks a tleg export (.pt, or .safetensors read by safetensors.torch.load_file) against timm:
strict state-dict load, logits within 1e-5 (float32; the two implementations order their sums
differently), and tleg's analytical FLOPs against torch's FlopCounterMode on the same model.
Exit code 0 means every check passed."""
import argparse
import sys

import timm  # noqa: F401  (used by the constructor text)
import timm.models.vision_transformer  # noqa: F401
import torch
from safetensors.torch import load_file
from torch.utils.flop_counter import FlopCounterMode

parser = argparse.ArgumentParser()
parser.add_argument("--model", required=True)
parser.add_argument("--probe", required=True)
parser.add_argument("--timm", required=True, help="constructor expression printed by tleg")
args = parser.parse_args()

if args.model.endswith(".safetensors"):
    state = load_file(args.model)
else:
    state = torch.load(args.model, weights_only=True)
probe = torch.load(args.probe, weights_only=True)
model = eval(args.timm)
model.load_state_dict(state, strict=True)
model.eval()
with torch.no_grad():
    logits = model(probe["images"])
difference = (logits - probe["logits"]).abs().max().item()
print(f"max |timm - tleg| = {difference:.3g}")

# FlopCounterMode has no formula for the CPU flash-attention kernel: count the unfused
# attention (two matmuls) instead, which computes the same thing.
for module in model.modules():
    if hasattr(module, "fused_attn"):
        module.fused_attn = False
with FlopCounterMode(display=False) as counter, torch.no_grad():
    model(probe["images"][:1])
flops = counter.get_total_flops()
expected = int(probe["flops"][0])
print(f"FLOPs per image: FlopCounterMode {flops}, tleg {expected}")

ok = difference <= 1e-5 and flops == expected
sys.exit(0 if ok else 1)
