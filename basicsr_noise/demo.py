"""The embedded demo: data from images bundled with scikit-image, R2R trained on CPU through BasicSR, a report.

``basicsr-noise demo`` (``make demo``) builds ``datasets/demo`` (noisy-only training images and held-out
noisy/clean validation pairs with AWGN sigma 25 at fixed seeds), runs ``basicsr train`` and ``basicsr test`` with
``options/demo/*.yml`` in subprocesses (exactly what a user types), and prints the PSNR of the noisy inputs and of
the denoised outputs.
"""
import cv2
import numpy as np
import os
import subprocess
import sys
import time
from basicsr.metrics import calculate_psnr
from os import path as osp
from skimage import data as skdata

# Only loaders whose images ship inside scikit-image (never the download-backed ones).
DEMO_TRAIN = ('astronaut', 'coffee', 'immunohistochemistry', 'rocket', 'hubble_deep_field', 'retina')
DEMO_VAL = ('chelsea', 'motorcycle')
DEMO_SIGMA = 25
DEMO_SEED = 2021
MAX_SIDE = 512


def bundled_image(name):
    """An RGB uint8 image bundled with scikit-image, at most ``MAX_SIDE`` pixels on its longer side."""
    img = skdata.stereo_motorcycle()[0] if name == 'motorcycle' else getattr(skdata, name)()
    img = np.ascontiguousarray(img[..., :3])
    scale = MAX_SIDE / max(img.shape[:2])
    if scale < 1:
        img = cv2.resize(img, (round(img.shape[1] * scale), round(img.shape[0] * scale)), interpolation=cv2.INTER_AREA)
    return img


def add_awgn_uint8(img, sigma, seed):
    """AWGN on the 0-255 scale at a fixed seed, clipped and rounded to uint8 as a saved noisy photo is."""
    rng = np.random.default_rng(seed)
    noisy = img.astype(np.float64) + rng.normal(0, sigma, img.shape)
    return np.clip(np.round(noisy), 0, 255).astype(np.uint8)


def _write(path, rgb):
    os.makedirs(osp.dirname(path), exist_ok=True)
    if not cv2.imwrite(path, cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)):
        raise OSError(f'Cannot write {path}.')


def build_demo_data(root, sigma=DEMO_SIGMA, seed=DEMO_SEED):
    """Write ``<root>/datasets/demo/r2r/{train/noisy, val/noisy, val/clean}``; returns the demo folder."""
    folder = osp.join(root, 'datasets', 'demo', 'r2r')
    if osp.isfile(osp.join(folder, 'DONE')):
        return folder
    tmp = folder + '.tmp'
    for i, name in enumerate(DEMO_TRAIN):
        _write(osp.join(tmp, 'train', 'noisy', f'{name}.png'), add_awgn_uint8(bundled_image(name), sigma, seed + i))
    for i, name in enumerate(DEMO_VAL):
        clean = bundled_image(name)
        h, w = clean.shape[:2]
        clean = clean[(h - 256) // 2:(h - 256) // 2 + 256, (w - 256) // 2:(w - 256) // 2 + 256]
        _write(osp.join(tmp, 'val', 'clean', f'{name}.png'), clean)
        _write(osp.join(tmp, 'val', 'noisy', f'{name}.png'), add_awgn_uint8(clean, sigma, seed + 100 + i))
    with open(osp.join(tmp, 'DONE'), 'w') as f:
        f.write(f'AWGN sigma {sigma}, seed {seed}\n')
    if osp.exists(folder):
        import shutil
        shutil.rmtree(folder)
    os.replace(tmp, folder)
    return folder


def _read_rgb(path):
    img = cv2.imread(path, cv2.IMREAD_COLOR)
    if img is None:
        raise FileNotFoundError(f'Cannot read {path}.')
    return img


def report(folder, result_folder):
    """PSNR of noisy inputs and denoised outputs against the clean validation images."""
    rows = []
    for name in DEMO_VAL:
        clean = _read_rgb(osp.join(folder, 'val', 'clean', f'{name}.png'))
        noisy = _read_rgb(osp.join(folder, 'val', 'noisy', f'{name}.png'))
        denoised = _read_rgb(osp.join(result_folder, f'{name}_R2R_demo.png'))
        rows.append((name, calculate_psnr(noisy, clean, 0), calculate_psnr(denoised, clean, 0)))
    return rows


def run_demo(args):
    root = osp.abspath(args.root)
    start = time.time()
    folder = build_demo_data(root)
    print(f'Demo data: {folder} (train: {len(DEMO_TRAIN)} noisy-only images; val: {len(DEMO_VAL)} pairs; '
          f'AWGN sigma {DEMO_SIGMA})', flush=True)
    repo = osp.dirname(osp.dirname(osp.abspath(__file__)))
    train_opt = osp.join(repo, 'options', 'demo', 'r2r_demo.yml')
    test_opt = osp.join(repo, 'options', 'demo', 'r2r_demo_test.yml')
    cli = [sys.executable, '-m', 'basicsr_noise']
    train_cmd = cli + ['train', '-opt', train_opt, '--force_yml', f'datasets:train:dataroot_lq={folder}/train/noisy',
                       f'datasets:val:dataroot_lq={folder}/val/noisy', f'datasets:val:dataroot_gt={folder}/val/clean']
    if args.iters:
        train_cmd.append(f'train:total_iter={args.iters}')
    print('$ basicsr train -opt options/demo/r2r_demo.yml', flush=True)
    subprocess.run(train_cmd, cwd=root, check=True)
    weights = osp.join(root, 'experiments', 'R2R_demo', 'models', 'net_g_latest.pth')
    test_cmd = cli + ['test', '-opt', test_opt, '--force_yml', f'datasets:test:dataroot_lq={folder}/val/noisy',
                      f'datasets:test:dataroot_gt={folder}/val/clean', f'path:pretrain_network_g={weights}']
    print('$ basicsr test -opt options/demo/r2r_demo_test.yml', flush=True)
    subprocess.run(test_cmd, cwd=root, check=True)

    result_folder = osp.join(root, 'results', 'R2R_demo_test', 'visualization', 'demo_val')
    rows = report(folder, result_folder)
    print('\nR2R demo (trained on noisy images only), PSNR in dB against the clean images:')
    print(f'{"image":<12}{"noisy":>8}{"denoised":>10}{"gain":>8}')
    for name, p_noisy, p_out in rows:
        print(f'{name:<12}{p_noisy:8.2f}{p_out:10.2f}{p_out - p_noisy:8.2f}')
    mean_noisy = float(np.mean([r[1] for r in rows]))
    mean_out = float(np.mean([r[2] for r in rows]))
    print(f'{"mean":<12}{mean_noisy:8.2f}{mean_out:10.2f}{mean_out - mean_noisy:8.2f}')
    print(f'Denoised images: {result_folder}\nTotal time: {time.time() - start:.0f} s')
    return mean_noisy, mean_out
