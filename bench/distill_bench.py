"""The Python side of bench/distill_bench.cpp: one stage-1 (distillation) training step in eager
PyTorch, data-parallel under mpirun (torch.distributed with gloo, DistributedDataParallel): a
DataLoader with one worker process reading the same Fashion-MNIST store (h5py) and drawing the
same kind of view (RandomResizedCrop to 28 with scale 0.35-1, horizontal flip, normalisation: the
basic recipe of experiments/fashion-mnist/common.ini), the live teacher (the tleg model file,
loaded into timm's VisionTransformer: tleg's tensor names are timm's), the auxiliary net of
step_bench.py, soft distillation (tau 1, alpha 1), backward with DDP's gradient all-reduce, AdamW,
and the per-step mean-loss all-reduce. --teacher-logits S replaces the live teacher by a
`tleg logits` store, as the demo's stage 1 does: each sample's view is cropped and flipped as its
stored record says (view e mod K at epoch e) and distilled towards its stored logits, rebuilt as
data/FORMAT.md defines (fp16 top-k values, the rest sharing the mass left). --precision bf16 runs
the student's and the teacher's forward passes under torch.autocast("cpu", torch.bfloat16).
Rank 0 prints one JSON line:
  {"precision": "fp32", "ranks": 2, "batch_per_rank": 64, "images_per_s": ...,
   "data_wait_fraction": ..., "teacher_fraction": ...}

usage: mpirun -np 2 python distill_bench.py --store FM.h5 (--teacher MODEL.h5 | --teacher-logits S)
       [--precision fp32]
       [--steps 40] [--warmup 5] [--batch 64] [--dim 64] [--heads 2] [--patch 7] [--depth 12]
"""
import argparse
import functools
import json
import os
import time

import h5py
import numpy as np
import timm
import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn
from torchvision.transforms import v2

import step_bench

MEAN, STD = 0.2860, 0.3530  # common.ini


class StoreViews(torch.utils.data.Dataset):
    """The train split of a tleg store of raw images (format: data/FORMAT.md), one random view
    per sample."""

    def __init__(self, path, image_size):
        with h5py.File(path, "r") as f:
            if f.attrs["encoding"] != b"raw" and f.attrs["encoding"] != "raw":
                raise SystemExit(f"{path}: only stores of raw images are read here")
            split = f["splits/train"]
            shape = (int(split.attrs["count"]), int(f.attrs["height"]), int(f.attrs["width"]),
                     int(f.attrs["channels"]))
            self.images = torch.from_numpy(np.asarray(split["images"]).reshape(shape)).permute(
                0, 3, 1, 2)
            self.labels = torch.from_numpy(np.asarray(split["labels"]).astype(np.int64))
        self.transform = v2.Compose([
            v2.RandomResizedCrop(image_size, scale=(0.35, 1.0), antialias=True),
            v2.RandomHorizontalFlip(), v2.ToDtype(torch.float32, scale=True),
            v2.Normalize([MEAN], [STD])])

    def __len__(self):
        return len(self.labels)

    def __getitem__(self, i):
        return self.transform(self.images[i]), self.labels[i]


class StoredViews(StoreViews):
    """The train split with a teacher-logits store: one stored view per sample and epoch, returned
    with that view's full logit vector."""

    def __init__(self, path, image_size, logits_dir):
        super().__init__(path, image_size)
        self.size = image_size
        self.normalize = v2.Compose([v2.ToDtype(torch.float32, scale=True),
                                     v2.Normalize([MEAN], [STD])])
        with h5py.File(f"{logits_dir}/index.h5", "r") as index:
            self.views = int(index.attrs["views"])
            classes, topk = int(index.attrs["classes"]), int(index.attrs["topk"])
            slots = int(index.attrs["augment_slots"])
            shards = len(index["shard_starts"]) - 1
        records, values, indices, lse = [], [], [], []
        for shard in range(shards):
            with h5py.File(f"{logits_dir}/shard-{shard:05d}.h5", "r") as f:
                # view_record_bytes(slots) bytes a record; the first 13: box and flip
                records.append(np.asarray(f["params"]).reshape(-1, 30 + 9 * slots)[:, :13])
                values.append(np.asarray(f["values"]).view(np.float16).reshape(-1, topk or classes))
                indices.append(np.asarray(f["indices"]).reshape(-1, topk) if topk else None)
                lse.append(np.asarray(f["log_sum_exp"]))
        self.records = np.concatenate(records)
        self.logits = reconstruct_logits(np.concatenate(values).astype(np.float32),
                                         None if not topk else np.concatenate(indices),
                                         np.concatenate(lse), classes)

    def __getitem__(self, key):
        epoch, i = key  # from EpochKeys: the persistent worker's copy of the dataset knows no epoch
        row = i * self.views + epoch % self.views
        box = self.records[row, :12].view("<u2").astype(int)  # source w, h, crop x, y, w, h
        image = v2.functional.resized_crop(self.images[i], top=box[3], left=box[2], height=box[5],
                                           width=box[4], size=[self.size, self.size],
                                           antialias=True)
        if self.records[row, 12] & 1:
            image = v2.functional.horizontal_flip(image)
        return self.normalize(image), self.logits[row]


class EpochKeys(torch.utils.data.Sampler):
    """A DistributedSampler's indices as (epoch, index) keys, for StoredViews."""

    def __init__(self, sampler):
        self.sampler = sampler

    def __iter__(self):
        return ((self.sampler.epoch, i) for i in self.sampler)

    def __len__(self):
        return len(self.sampler)


def reconstruct_logits(values, indices, log_sum_exp, classes):
    """Full logit vectors from stored top-k ones: the classes not stored share the probability
    mass the stored ones leave (data/FORMAT.md, Reading)."""
    if indices is None:
        return torch.from_numpy(values)
    k = values.shape[1]  # < classes: a store of every class has no indices
    left = 1 - np.exp(values - log_sum_exp[:, None]).sum(1)
    with np.errstate(divide="ignore"):  # no mass left: log 0 = -inf, probability 0
        rest = np.log(np.maximum(left, 0) / (classes - k)) + log_sum_exp
    full = np.repeat(rest[:, None].astype(np.float32), classes, axis=1)
    np.put_along_axis(full, indices.astype(np.int64), values, axis=1)
    return torch.from_numpy(full)


def load_teacher(path):
    """A tleg model file (expansion/README.md) as timm's VisionTransformer."""
    with h5py.File(path, "r") as f:
        a = {k: int(f.attrs[k]) for k in ("image_size", "patch_size", "channels", "classes", "dim",
                                          "heads", "depth", "mlp_ratio")}
        state = {name: torch.from_numpy(np.asarray(t)) for name, t in f["tensors"].items()}
    model = timm.models.vision_transformer.VisionTransformer(
        img_size=a["image_size"], patch_size=a["patch_size"], in_chans=a["channels"],
        num_classes=a["classes"], embed_dim=a["dim"], depth=a["depth"], num_heads=a["heads"],
        mlp_ratio=a["mlp_ratio"], class_token=False, global_pool="avg",
        norm_layer=functools.partial(nn.LayerNorm, eps=1e-6))
    model.load_state_dict(state)
    return model.eval()


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--store", required=True)
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--teacher")
    source.add_argument("--teacher-logits")
    parser.add_argument("--precision", default="fp32", choices=["fp32", "bf16"])
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--dim", type=int, default=64)
    parser.add_argument("--heads", type=int, default=2)
    parser.add_argument("--patch", type=int, default=7)
    parser.add_argument("--depth", type=int, default=12)
    args = parser.parse_args()
    if args.depth != step_bench.DEPTH:
        raise SystemExit(f"--depth: step_bench.py's auxiliary net has depth {step_bench.DEPTH}")

    rank = int(os.environ.get("OMPI_COMM_WORLD_RANK", 0))
    ranks = int(os.environ.get("OMPI_COMM_WORLD_SIZE", 1))
    os.environ.setdefault("MASTER_ADDR", "127.0.0.1")
    os.environ.setdefault("MASTER_PORT", "29533")
    dist.init_process_group("gloo", rank=rank, world_size=ranks)
    torch.set_num_threads(1)  # common.ini: run.threads = 1
    torch.manual_seed(rank)

    views = (StoredViews(args.store, 28, args.teacher_logits) if args.teacher_logits
             else StoreViews(args.store, 28))
    sampler = torch.utils.data.DistributedSampler(views, num_replicas=ranks, rank=rank, seed=0)
    keys = EpochKeys(sampler) if args.teacher_logits else sampler
    loader = torch.utils.data.DataLoader(views, batch_size=args.batch, sampler=keys,
                                         num_workers=1, persistent_workers=True, drop_last=True)
    teacher = load_teacher(args.teacher) if args.teacher else None
    student = step_bench.AuxViT(28, args.patch, 1, 10, args.dim, args.heads).train()
    model = nn.parallel.DistributedDataParallel(student)
    optimizer = torch.optim.AdamW(model.parameters(), lr=5e-4, weight_decay=0.05)
    autocast = functools.partial(torch.autocast, "cpu", dtype=torch.bfloat16,
                                 enabled=args.precision == "bf16")
    seconds = {"data": 0.0, "teacher": 0.0}
    batches = iter(loader)
    epoch = 0

    def step():
        nonlocal batches, epoch
        start = time.perf_counter()
        try:
            images, targets = next(batches)
        except StopIteration:  # a long run wraps into the next epoch, as training does
            epoch += 1
            sampler.set_epoch(epoch)
            batches = iter(loader)
            images, targets = next(batches)
        seconds["data"] += time.perf_counter() - start
        with autocast():
            logits = model(images).float()
        if teacher is None:
            teacher_logits = targets
        else:
            start = time.perf_counter()
            with torch.no_grad(), autocast():
                teacher_logits = teacher(images).float()
            seconds["teacher"] += time.perf_counter() - start
        # Soft distillation, tau 1, alpha 1: KL(p_teacher || p_student), batch mean.
        loss = F.kl_div(F.log_softmax(logits, -1), F.log_softmax(teacher_logits, -1),
                        reduction="batchmean", log_target=True)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        mean_loss = loss.detach().double().reshape(1)
        dist.all_reduce(mean_loss)

    for _ in range(args.warmup):
        step()
    dist.barrier()
    seconds.update(data=0.0, teacher=0.0)
    start = time.perf_counter()
    for _ in range(args.steps):
        step()
    elapsed = time.perf_counter() - start
    fractions = torch.tensor([seconds["data"] / elapsed, seconds["teacher"] / elapsed],
                             dtype=torch.double)
    dist.all_reduce(fractions)
    fractions /= ranks
    if rank == 0:
        print(json.dumps({"precision": args.precision, "ranks": ranks, "batch_per_rank": args.batch,
                          "images_per_s": args.steps * args.batch * ranks / elapsed,
                          "data_wait_fraction": fractions[0].item(),
                          "teacher_fraction": fractions[1].item()}), flush=True)
    dist.destroy_process_group()


if __name__ == "__main__":
    main()
