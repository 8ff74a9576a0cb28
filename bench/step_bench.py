"""The Python side of bench/step_bench.cpp: one training step (forward, cross-entropy, backward,
AdamW step) in eager PyTorch, for timm's VisionTransformer (no class token, mean pooling, like
tleg::ViT) and for a Python auxiliary net whose block l of L uses W_B + (l/L) W_A computed on
the fly (like tleg::AuxViT). Same configurations, batch sizes and thread counts as the C++
program; PyTorch's default AdamW. Precision fp32, or bf16: the forward pass under
torch.autocast("cpu", torch.bfloat16), PyTorch's own mixed precision. Prints one JSON line per
case:
  {"config": "64px", "model": "vit", "precision": "fp32", "threads": 1, "images_per_s": ...,
   "ms_per_step": ..., "cpu_ms_per_step": ...}

usage: step_bench.py [--config 64px 28px] [--model vit aux] [--precision fp32 bf16]
                     [--threads 1 2] [--steps 5] [--warmup 2] [--device cpu|cuda] [--batch N]
On cuda the forward pass runs under bf16 autocast in both precisions, as tleg trains there.
"""
import argparse
import functools
import json
import time

import timm
import torch
import torch.nn.functional as F
from torch import nn

CONFIGS = {
    # name: (image_size, patch_size, channels, classes, dim, heads, batch); depth 12.
    "64px": (64, 8, 3, 100, 192, 3, 64),
    "28px": (28, 7, 1, 10, 64, 2, 64),  # the Fashion-MNIST demo's student
}
DEPTH, MLP_RATIO, EPS = 12, 4, 1e-6


def make_vit(image_size, patch_size, channels, classes, dim, heads):
    return timm.models.vision_transformer.VisionTransformer(
        img_size=image_size, patch_size=patch_size, in_chans=channels, num_classes=classes,
        embed_dim=dim, depth=DEPTH, num_heads=heads, mlp_ratio=MLP_RATIO, class_token=False,
        global_pool="avg", norm_layer=functools.partial(nn.LayerNorm, eps=EPS))


class AuxViT(nn.Module):
    """The auxiliary net: the same ops as tleg's block_forward (model/vit.cpp)."""

    def __init__(self, image_size, patch_size, channels, classes, dim, heads):
        super().__init__()
        self.heads = heads
        self.patch_embed = nn.Conv2d(channels, dim, patch_size, patch_size)
        self.pos_embed = nn.Parameter(torch.randn(1, (image_size // patch_size) ** 2, dim) * .02)
        hidden = dim * MLP_RATIO
        shapes = {"n1w": (dim,), "n1b": (dim,), "qkvw": (3 * dim, dim), "qkvb": (3 * dim,),
                  "projw": (dim, dim), "projb": (dim,), "n2w": (dim,), "n2b": (dim,),
                  "fc1w": (hidden, dim), "fc1b": (hidden,), "fc2w": (dim, hidden), "fc2b": (dim,)}
        # tleg's initial values: matrices N(0, .02), biases 0, norm weights 1 in θ_B and 0 in θ_A.
        def init(key, shape, slope):
            if len(shape) == 2:
                return torch.randn(shape) * .02
            return torch.full(shape, 1. if key in ("n1w", "n2w") and not slope else 0.)
        self.theta_B = nn.ParameterDict({k: nn.Parameter(init(k, s, False)) for k, s in shapes.items()})
        self.theta_A = nn.ParameterDict({k: nn.Parameter(init(k, s, True)) for k, s in shapes.items()})
        self.fc_norm = nn.LayerNorm(dim, eps=EPS)
        self.head = nn.Linear(dim, classes)

    def block(self, x, w):
        b, n, d = x.shape
        y = F.layer_norm(x, (d,), w["n1w"], w["n1b"], EPS)
        qkv = F.linear(y, w["qkvw"], w["qkvb"]).reshape(b, n, 3, self.heads, d // self.heads)
        q, k, v = qkv.permute(2, 0, 3, 1, 4).unbind(0)
        y = F.scaled_dot_product_attention(q, k, v).transpose(1, 2).reshape(b, n, d)
        x = x + F.linear(y, w["projw"], w["projb"])
        y = F.layer_norm(x, (d,), w["n2w"], w["n2b"], EPS)
        return x + F.linear(F.gelu(F.linear(y, w["fc1w"], w["fc1b"])), w["fc2w"], w["fc2b"])

    def forward(self, images):
        x = self.patch_embed(images).flatten(2).transpose(1, 2) + self.pos_embed
        for l in range(DEPTH):
            t = l / DEPTH  # the divisor is L: the last block sits at (L-1)/L
            x = self.block(x, {k: b if t == 0 else torch.add(b, self.theta_A[k], alpha=t)
                               for k, b in self.theta_B.items()})
        return self.head(self.fc_norm(x.mean(1)))


def run_case(config, model_kind, precision, threads, steps, warmup, device, batch_override):
    torch.set_num_threads(threads)
    image_size, patch_size, channels, classes, dim, heads, batch = CONFIGS[config]
    batch = batch_override or batch
    torch.manual_seed(0)
    make = make_vit if model_kind == "vit" else AuxViT
    model = make(image_size, patch_size, channels, classes, dim, heads).to(device).train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=5e-4, weight_decay=0.05)
    images = torch.randn(batch, channels, image_size, image_size).to(device)
    labels = torch.randint(classes, (batch,)).to(device)
    cuda = device == "cuda"
    autocast = cuda or precision == "bf16"

    def step():
        optimizer.zero_grad()  # set_to_none, like the C++ default
        with torch.autocast(device, dtype=torch.bfloat16, enabled=autocast):
            logits = model(images).float()
        F.cross_entropy(logits, labels).backward()
        optimizer.step()
        if cuda:
            torch.cuda.synchronize()

    for _ in range(warmup):
        step()
    start, cpu_start = time.perf_counter(), time.process_time()
    for _ in range(steps):
        step()
    seconds = (time.perf_counter() - start) / steps
    cpu_seconds = (time.process_time() - cpu_start) / steps  # all threads, as the C++ counter
    print(json.dumps({"config": config, "model": model_kind, "precision": precision,
                      "threads": threads, "images_per_s": batch / seconds,
                      "ms_per_step": 1e3 * seconds, "cpu_ms_per_step": 1e3 * cpu_seconds}),
          flush=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", nargs="+", default=list(CONFIGS), choices=list(CONFIGS))
    parser.add_argument("--model", nargs="+", default=["vit", "aux"], choices=["vit", "aux"])
    parser.add_argument("--precision", nargs="+", default=["fp32", "bf16"],
                        choices=["fp32", "bf16"])
    parser.add_argument("--threads", nargs="+", type=int, default=[1, 2])
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument("--batch", type=int, default=0, help="overrides the configurations' batch")
    args = parser.parse_args()
    for config in args.config:
        for model_kind in args.model:
            for precision in args.precision:
                for threads in args.threads:
                    run_case(config, model_kind, precision, threads, args.steps, args.warmup,
                             args.device, args.batch)


if __name__ == "__main__":
    main()
