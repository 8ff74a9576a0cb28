"""Writes the state dicts `tleg linearity` must read, as timm users write them: a tleg export
loaded into timm's VisionTransformer and saved again with torch.save(model.state_dict()) and with
safetensors; timm's default layout (class token, final norm) and one with LayerScale, which
tleg reads for the fit / refuses naming the tensor. Exit code 0 means every file was written."""
import argparse
import os

import timm.models.vision_transformer  # noqa: F401  (used by the constructor text)
import torch
from safetensors.torch import save_file

parser = argparse.ArgumentParser()
parser.add_argument("--export", required=True, help=".pt written by tleg export")
parser.add_argument("--timm", required=True, help="constructor expression printed by tleg")
parser.add_argument("--out", required=True, help="folder for the files")
args = parser.parse_args()

model = eval(args.timm)
model.load_state_dict(torch.load(args.export, weights_only=True), strict=True)
torch.save(model.state_dict(), os.path.join(args.out, "timm.pt"))
save_file(model.state_dict(), os.path.join(args.out, "timm.safetensors"))

torch.manual_seed(0)
common = dict(img_size=model.patch_embed.img_size[0], patch_size=model.patch_embed.patch_size[0],
              num_classes=model.num_classes, embed_dim=model.embed_dim, depth=len(model.blocks),
              num_heads=model.blocks[0].attn.num_heads)
default = timm.models.vision_transformer.VisionTransformer(**common)  # class token, final norm
torch.save(default.state_dict(), os.path.join(args.out, "cls.pt"))
layerscale = timm.models.vision_transformer.VisionTransformer(init_values=1e-5, **common)
torch.save(layerscale.state_dict(), os.path.join(args.out, "layerscale.pt"))
print("wrote", sorted(os.listdir(args.out)))
