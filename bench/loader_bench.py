"""The reference for bench/loader_bench.cpp: the same training pipelines in Python on the same
JPEG bytes held in memory, with Pillow: basic = torchvision's RandomResizedCrop(224),
RandomHorizontalFlip, ToTensor, Normalize; deit = the transform DeiT's main.py builds (timm's
create_transform with RandAugment 'rand-m9-mstd0.5-inc1', bicubic, random erasing 0.25).
Prints one JSON line: images/s (wall) and images per CPU second.
usage: loader_bench.py --images DIR [--processes N] [--seconds S] [--interpolation bilinear]
                       [--recipe basic|deit]
"""
import argparse
import io
import json
import multiprocessing
import pathlib
import time


def work(args):
    image_dir, seconds, interpolation, recipe, worker = args
    import torch
    from PIL import Image
    from torchvision import transforms

    torch.set_num_threads(1)
    mode = {"bilinear": transforms.InterpolationMode.BILINEAR,
            "bicubic": transforms.InterpolationMode.BICUBIC}[interpolation]
    if recipe == "deit":
        import timm.data.auto_augment as auto_augment
        from timm.data import create_transform

        # PosterizeIncreasing at magnitude 10 keeps 0 bits, which Pillow >= 10 refuses (timm
        # raises); the Pillow of the released code returned black, as tleg does.
        posterize = auto_augment.NAME_TO_OP["PosterizeIncreasing"]
        auto_augment.NAME_TO_OP["PosterizeIncreasing"] = (
            lambda img, bits, **kwargs: Image.new(img.mode, img.size) if bits < 1
            else posterize(img, bits, **kwargs))
        transform = create_transform(224, is_training=True, color_jitter=0.3,
                                     auto_augment="rand-m9-mstd0.5-inc1", interpolation=interpolation,
                                     re_prob=0.25, re_mode="pixel", re_count=1)
    else:
        transform = transforms.Compose([
            transforms.RandomResizedCrop(224, interpolation=mode),
            transforms.RandomHorizontalFlip(),
            transforms.ToTensor(),
            transforms.Normalize((0.485, 0.456, 0.406), (0.229, 0.224, 0.225)),
        ])
    blobs = [p.read_bytes() for p in sorted(pathlib.Path(image_dir).glob("*.jpg"))]
    torch.manual_seed(worker)
    for blob in blobs[:20]:  # warm-up
        transform(Image.open(io.BytesIO(blob)).convert("RGB"))
    images, start, cpu_start = 0, time.perf_counter(), time.process_time()
    while time.perf_counter() - start < seconds:
        for i in range(50):  # each worker walks the whole set from its own offset
            blob = blobs[(worker * 250 + images + i) % len(blobs)]
            tensor = transform(Image.open(io.BytesIO(blob)).convert("RGB"))
        images += 50
        assert tensor.shape == (3, 224, 224)
    return images, time.perf_counter() - start, time.process_time() - cpu_start


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--images", required=True)
    parser.add_argument("--processes", type=int, default=1)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--interpolation", default="bilinear", choices=["bilinear", "bicubic"])
    parser.add_argument("--recipe", default="basic", choices=["basic", "deit"])
    args = parser.parse_args()
    jobs = [(args.images, args.seconds, args.interpolation, args.recipe, w)
            for w in range(args.processes)]
    if args.processes == 1:
        results = [work(jobs[0])]
    else:
        with multiprocessing.get_context("fork").Pool(args.processes) as pool:
            results = pool.map(work, jobs)
    images = sum(r[0] for r in results)
    wall = max(r[1] for r in results)
    cpu = sum(r[2] for r in results)
    print(json.dumps({"processes": args.processes, "interpolation": args.interpolation,
                      "recipe": args.recipe,
                      "images": images, "images_per_second": images / wall,
                      "images_per_cpu_second": images / cpu}))


if __name__ == "__main__":
    main()
