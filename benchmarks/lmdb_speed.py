"""Patch loading: 128x128 training patches from whole PNG images vs from an LMDB of 512x512 crops.

The usual SIDD-scale setup: full-size images in a folder (each sample decodes a whole image to cut one patch)
against the same images cropped by ``basicsr-noise prepare sidd`` into an LMDB (each sample decodes one crop).
Images are synthetic 2048x1536 camera-noise images made here; loading runs through ``NoisyImageDataset`` in
this process (no workers), best of ``--repeats``, in patches per second.

    python benchmarks/lmdb_speed.py --out docs/results/lmdb_speed.json
"""
import basicsr_noise  # noqa: F401  # isort: skip  (first: basicsr 1.4.2 needs its shims)
import argparse
import cv2
import numpy as np
import os
import tempfile
import time
from benchmark_io import save_results
from os import path as osp

from basicsr_noise.compat import SampleIndex
from basicsr_noise.data.noisy_image_dataset import NoisyImageDataset
from basicsr_noise.data.prepare import prepare_sidd


def make_images(root, count, height, width):
    rng = np.random.default_rng(0)
    for i in range(count):
        low = rng.uniform(0, 255, (height // 64, width // 64, 3)).astype(np.float32)
        clean = cv2.resize(low, (width, height), interpolation=cv2.INTER_CUBIC)
        noisy = np.clip(clean + rng.normal(0, 12, clean.shape), 0, 255).astype(np.uint8)
        scene = osp.join(root, f'{i:04d}_001_GP_00800_00350_5500_N')
        os.makedirs(scene)
        for kind, img in (('NOISY', noisy), ('GT', np.clip(clean, 0, 255).astype(np.uint8))):
            cv2.imwrite(osp.join(scene, f'{i:04d}_{kind}_SRGB_010.PNG'), img)


def patches_per_second(dataset, samples, repeats):
    best = float('inf')
    for r in range(repeats):
        start = time.perf_counter()
        for d in range(samples):
            dataset[SampleIndex(d % len(dataset), r * samples + d)]
        best = min(best, time.perf_counter() - start)
    return samples / best


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--images', type=int, default=6)
    parser.add_argument('--samples', type=int, default=60)
    parser.add_argument('--repeats', type=int, default=3)
    parser.add_argument('--out', default='docs/results/lmdb_speed.json')
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as work:
        data = osp.join(work, 'Data')
        make_images(data, args.images, 1536, 2048)
        folder = osp.join(work, 'noisy_png')
        os.makedirs(folder)
        for scene in sorted(os.listdir(data)):
            noisy = [f for f in os.listdir(osp.join(data, scene)) if 'NOISY' in f][0]
            os.link(osp.join(data, scene, noisy), osp.join(folder, f'{scene}.png'))
        prepare_sidd(data, osp.join(work, 'lmdb'), crop_size=512, step=512)
        common = {'name': 'bench', 'phase': 'train', 'gt_size': 128, 'use_hflip': True, 'use_rot': True}
        png = NoisyImageDataset(dict(common, dataroot_lq=folder))
        lmdb = NoisyImageDataset(dict(common, dataroot_lq=osp.join(work, 'lmdb', 'noisy_crops.lmdb'),
                                      io_backend={'type': 'lmdb'}))
        results = {
            'setting': {'images': args.images, 'image_size': [1536, 2048], 'lmdb_crop': 512, 'patch': 128,
                        'samples': args.samples},
            'png_folder_patches_per_s': patches_per_second(png, args.samples, args.repeats),
            'lmdb_patches_per_s': patches_per_second(lmdb, args.samples, args.repeats),
        }
    results['speedup'] = results['lmdb_patches_per_s'] / results['png_folder_patches_per_s']
    save_results(results, args.out)


if __name__ == '__main__':
    main()
