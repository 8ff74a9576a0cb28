"""Weight selection (Xu et al., ICLR 2024, "Initializing Models with Larger Ones") written from
the paper's description, independently of tleg's C++ (the authors' weight_selection.py cannot be
fetched here): the student's block i from the teacher's block i, and along every dimension of
every tensor but the head the teacher's elements at arange(s) * (t // s) when the teacher's size
t is a multiple of the student's s, else at round(linspace(0, t - 1, s)); attn.qkv one projection
(query, key, value) at a time. Writes the selected tensors for tleg to compare, and checks that
selecting qkv whole gives the same rows whenever t is a multiple of s. Exit code 0: written and
the check holds."""
import argparse
import sys

import torch
from safetensors.torch import load_file, save_file

parser = argparse.ArgumentParser()
parser.add_argument("--teacher", required=True, help="the larger model's state dict (.safetensors)")
parser.add_argument("--student", required=True, help="a state dict of the student's shapes")
parser.add_argument("--out", required=True, help="the selected tensors (.safetensors)")
args = parser.parse_args()


def indices(t, s):
    if t % s == 0:
        return torch.arange(s) * (t // s)
    return torch.round(torch.linspace(0, t - 1, s)).long()


def select(tensor, shape):
    assert tensor.dim() == len(shape), (tensor.shape, shape)
    for dim, s in enumerate(shape):
        assert tensor.shape[dim] >= s, (tensor.shape, shape)
        tensor = torch.index_select(tensor, dim, indices(tensor.shape[dim], s))
    return tensor


teacher = load_file(args.teacher)
student = load_file(args.student)
selected = {}
ok = True
for name, like in student.items():
    if name.startswith("head."):
        continue
    source = teacher[name]  # first-N layers: blocks.i from blocks.i
    if name.endswith("attn.qkv.weight") or name.endswith("attn.qkv.bias"):
        part = (like.shape[0] // 3,) + tuple(like.shape[1:])
        selected[name] = torch.cat([select(p, part) for p in source.chunk(3, 0)], 0)
        if source.shape[0] % like.shape[0] == 0 and not torch.equal(
                selected[name], select(source, like.shape)):
            ok = False
            print("FAIL", name, ": per projection differs from the whole tensor's selection")
    else:
        selected[name] = select(source, like.shape)
    assert selected[name].shape == like.shape, (name, selected[name].shape, like.shape)
save_file({k: v.contiguous() for k, v in selected.items()}, args.out)
print("selected", len(selected), "tensors")
sys.exit(0 if ok else 1)
