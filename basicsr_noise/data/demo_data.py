"""The demo data (``basicsr-noise prepare demo``): noisy-only training images and noisy/clean validation pairs.

Colour AWGN sigma 25 at fixed seeds on the bundled scikit-image split (:mod:`basicsr_noise.data.bundled_images`),
rounded to uint8 as saved noisy photos are.
"""
import cv2
import numpy as np
from os import path as osp

from basicsr_noise.data.bundled_images import TEST_IMAGES, TRAIN_IMAGES, bundled_image, centre_crop
from basicsr_noise.utils.atomic import AtomicOutput
from basicsr_noise.utils.image_io import write_image

DEMO_SIGMA = 25
DEMO_SEED = 2021
DEMO_VAL_SIZE = 256


def add_awgn_uint8(img, sigma, seed):
    """AWGN on the 0-255 scale at a fixed seed, clipped and rounded to uint8 as a saved noisy photo is."""
    rng = np.random.default_rng(seed)
    noisy = img.astype(np.float64) + rng.normal(0, sigma, img.shape)
    return np.clip(np.round(noisy), 0, 255).astype(np.uint8)


def _write_rgb(path, rgb):
    write_image(path, cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))


def build_demo_data(root, sigma=DEMO_SIGMA, seed=DEMO_SEED):
    """Write ``<root>/datasets/demo/r2r/{train/noisy, val/noisy, val/clean}`` once; returns the demo folder."""
    folder = osp.join(root, 'datasets', 'demo', 'r2r')
    if osp.isfile(osp.join(folder, 'DONE')):
        return folder
    with AtomicOutput(folder, overwrite=True) as tmp:
        for i, name in enumerate(TRAIN_IMAGES):
            _write_rgb(
                osp.join(tmp, 'train', 'noisy', f'{name}.png'), add_awgn_uint8(bundled_image(name), sigma, seed + i))
        for i, name in enumerate(TEST_IMAGES):
            clean = centre_crop(bundled_image(name), DEMO_VAL_SIZE)
            _write_rgb(osp.join(tmp, 'val', 'clean', f'{name}.png'), clean)
            _write_rgb(osp.join(tmp, 'val', 'noisy', f'{name}.png'), add_awgn_uint8(clean, sigma, seed + 100 + i))
        with open(osp.join(tmp, 'DONE'), 'w') as f:
            f.write(f'AWGN sigma {sigma}, seed {seed}\n')
    return folder
