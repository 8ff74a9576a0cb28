"""tleg's view resizing against the released pipeline on the same JPEG bytes: training views
against torchvision's resized_crop on the PIL image (Pillow's antialiased BILINEAR/BICUBIC, as
timm's RandomResizedCropAndInterpolation calls it), and the evaluation view against DeiT's
Resize(int(224 / 0.875), bicubic) + CenterCrop(224). Both decode with libjpeg-turbo's accurate
IDCT, and ATen's uint8 antialiased kernels follow Pillow's fixed-point arithmetic, so the only
expected differences are rounding: mean |difference| at most 0.02 grey levels and no pixel more
than 2 apart (measured: 0.0003 to 0.011, max 1 for training views and 2 for the evaluation view). Exit code 0: every view holds."""
import io
import sys

import numpy as np
import torch
from PIL import Image
from torchvision import transforms
from torchvision.transforms import InterpolationMode
from torchvision.transforms import functional as F

data = torch.load(sys.argv[1], weights_only=True)
image = Image.open(io.BytesIO(data["jpeg"].numpy().tobytes())).convert("RGB")
ok = True


def compare(label, tleg, reference):
    global ok
    difference = np.abs(tleg.numpy().astype(np.int32) - np.asarray(reference).astype(np.int32))
    good = difference.mean() <= 0.02 and difference.max() <= 2
    ok = ok and good
    print(f"{'ok  ' if good else 'FAIL'} {label}: mean |diff| {difference.mean():.4f}, "
          f"max {difference.max()}")


modes = {0: InterpolationMode.BILINEAR, 1: InterpolationMode.BICUBIC}
for (mode, x, y, w, h), view in zip(data["boxes"].tolist(), data["train_views"]):
    reference = F.resized_crop(image, y, x, h, w, [224, 224], interpolation=modes[mode])
    compare(f"train {modes[mode].value} crop {w}x{h}+{x}+{y} -> 224", view, reference)
deit_eval = transforms.Compose([transforms.Resize(int(224 / 0.875), interpolation=InterpolationMode.BICUBIC),
                                transforms.CenterCrop(224)])
compare(f"eval {image.size[0]}x{image.size[1]}: Resize(256) + CenterCrop(224)", data["eval_view"],
        deit_eval(image))
sys.exit(0 if ok else 1)
