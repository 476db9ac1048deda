"""The demo data (``basicsr-noise prepare demo``): noisy training images (their clean versions beside them, for the
paired methods) and noisy/clean validation pairs.

On the bundled scikit-image split (:mod:`basicsr_noise.data.bundled_images`), at fixed seeds, rounded to uint8 as
saved noisy photos are: colour AWGN sigma 25 (``datasets/demo/r2r``, for R2R and DBSN), and in-camera noise of the
CBDNet/NTGAN simulator with parametric CRFs (``datasets/demo/ntgan``, for NTGAN, which learns from that family).
"""
import cv2
import numpy as np
import torch
from os import path as osp

from basicsr_noise.data.bundled_images import TEST_IMAGES, TRAIN_IMAGES, bundled_image, centre_crop
from basicsr_noise.noise import build_noise
from basicsr_noise.utils.atomic import AtomicOutput
from basicsr_noise.utils.image_io import write_image

DEMO_SIGMA = 25
DEMO_SEED = 2021
DEMO_VAL_SIZE = 256
# NTGAN's demo noise: one draw of this simulator per image (per-channel levels, a gamma CRF, a Bayer pattern or none)
DEMO_CAMERA_NOISE = {'type': 'CRFCameraNoise', 'sigma_s': [0, 25 / 255.], 'sigma_c': [0, 25 / 255.], 'crf': 'gamma'}


def add_awgn_uint8(img, sigma, seed):
    """AWGN on the 0-255 scale at a fixed seed, clipped and rounded to uint8 as a saved noisy photo is."""
    rng = np.random.default_rng(seed)
    noisy = img.astype(np.float64) + rng.normal(0, sigma, img.shape)
    return np.clip(np.round(noisy), 0, 255).astype(np.uint8)


def _write_rgb(path, rgb):
    write_image(path, cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))


def add_camera_noise_uint8(img, noise_opt, seed):
    """One draw of a noise model on an RGB uint8 image at a fixed seed, clipped and rounded to uint8."""
    x = torch.from_numpy(img.astype(np.float32) / 255.).permute(2, 0, 1)[None]
    noisy = build_noise(noise_opt)(x, torch.Generator().manual_seed(seed)).noisy[0].clamp(0, 1)
    return (noisy.permute(1, 2, 0).numpy() * 255.).round().astype(np.uint8)


def _build(folder, describe, add_noise, seed):
    """The demo layout under ``folder`` (once): noisy training images with their clean versions (read only by the
    methods that train on pairs, PNGAN), noisy/clean validation crops."""
    if osp.isfile(osp.join(folder, 'DONE')) and osp.isdir(osp.join(folder, 'train', 'clean')):
        return folder
    with AtomicOutput(folder, overwrite=True) as tmp:
        for i, name in enumerate(TRAIN_IMAGES):
            clean = bundled_image(name)
            _write_rgb(osp.join(tmp, 'train', 'clean', f'{name}.png'), clean)
            _write_rgb(osp.join(tmp, 'train', 'noisy', f'{name}.png'), add_noise(clean, seed + i))
        for i, name in enumerate(TEST_IMAGES):
            clean = centre_crop(bundled_image(name), DEMO_VAL_SIZE)
            _write_rgb(osp.join(tmp, 'val', 'clean', f'{name}.png'), clean)
            _write_rgb(osp.join(tmp, 'val', 'noisy', f'{name}.png'), add_noise(clean, seed + 100 + i))
        with open(osp.join(tmp, 'DONE'), 'w') as f:
            f.write(f'{describe}, seed {seed}\n')
    return folder


def build_demo_data(root, sigma=DEMO_SIGMA, seed=DEMO_SEED):
    """Write ``<root>/datasets/demo/r2r/{train/noisy, val/noisy, val/clean}`` (AWGN) once; returns the folder."""
    return _build(osp.join(root, 'datasets', 'demo', 'r2r'), f'AWGN sigma {sigma}',
                  lambda img, s: add_awgn_uint8(img, sigma, s), seed)


def build_ntgan_demo_data(root, noise_opt=DEMO_CAMERA_NOISE, seed=DEMO_SEED):
    """Write ``<root>/datasets/demo/ntgan/...`` (the same layout, in-camera noise) once; returns the folder."""
    return _build(osp.join(root, 'datasets', 'demo', 'ntgan'), f'noise {noise_opt}',
                  lambda img, s: add_camera_noise_uint8(img, noise_opt, s), seed)
