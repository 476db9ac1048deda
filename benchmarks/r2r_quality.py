"""R2R against the same DnCNN trained with clean targets (N2C), grey AWGN sigma 25, equal budget.

Both runs go through ``basicsr train`` (R2R: ``R2RModel`` on noisy images only; N2C: BasicSR's ``SRModel`` on
the same fixed noisy images paired with their clean versions), with DnCNN-17, the same patches, batch, learning
rate schedule and number of iterations. Train and test images are disjoint images bundled with scikit-image.
Testing: fixed-seed noise, PSNR on float outputs clipped to [0, 1]; R2R both with the paper's 50-recorruption
average and with a single pass.

    python benchmarks/r2r_quality.py --iters 1000 --out docs/results/r2r_quality.json
"""
import basicsr_noise  # noqa: F401  # isort: skip  (first: basicsr 1.4.2 needs its shims)
import argparse
import cv2
import json
import numpy as np
import os
import subprocess
import sys
import time
import torch
import yaml
from basicsr.metrics import calculate_psnr
from basicsr.models import build_model
from bench_images import TEST, TRAIN, centre_crop, grey_image
from os import path as osp

SIGMA = 25


def build_data(root, seed=0):
    rng = np.random.default_rng(seed)
    for split, names in (('train', TRAIN), ('test', TEST)):
        for name in names:
            clean = grey_image(name)
            if split == 'test':  # centre 160x160 crops keep the 50-pass test short on a CPU
                clean = centre_crop(clean, 160)
            noisy = np.clip(np.round(clean + rng.normal(0, SIGMA, clean.shape)), 0, 255).astype(np.uint8)
            for kind, img in (('clean', clean), ('noisy', noisy)):
                os.makedirs(osp.join(root, split, kind), exist_ok=True)
                cv2.imwrite(osp.join(root, split, kind, f'{name}.png'), img)


def options(root, method, iters, batch):
    train_set = {
        'name': 'train', 'type': 'NoisyImageDataset', 'dataroot_lq': osp.join(root, 'train', 'noisy'),
        'io_backend': {'type': 'disk'}, 'color': 'gray', 'gt_size': 40, 'use_hflip': True, 'use_rot': True,
        'num_worker_per_gpu': 1, 'batch_size_per_gpu': batch, 'dataset_enlarge_ratio': 500, 'prefetch_mode': None
    }
    if method == 'n2c':
        train_set['dataroot_gt'] = osp.join(root, 'train', 'clean')
    opt = {
        'name': f'bench_{method}', 'model_type': 'R2RModel' if method == 'r2r' else 'SRModel', 'scale': 1,
        'num_gpu': 0, 'manual_seed': 0, 'datasets': {'train': train_set},
        'network_g': {'type': 'R2RDnCNN', 'num_in_ch': 1, 'num_feat': 64, 'num_layers': 17},
        'path': {'pretrain_network_g': None, 'strict_load_g': True, 'resume_state': None},
        'train': {
            'ema_decay': 0, 'optim_g': {'type': 'Adam', 'lr': 1e-3, 'betas': [0.9, 0.999]},
            'scheduler': {'type': 'MultiStepLR', 'milestones': [int(iters * 0.6)], 'gamma': 0.1},
            'total_iter': iters, 'warmup_iter': -1,
            'pixel_opt': {'type': 'MSELoss', 'loss_weight': 1.0, 'reduction': 'mean'}
        },
        'logger': {'print_freq': 100, 'save_checkpoint_freq': iters, 'use_tb_logger': False},
    }
    if method == 'r2r':
        opt['r2r'] = {'alpha': 0.5, 'noise': {'type': 'awgn', 'sigma': SIGMA}, 'test_samples': 50}
    return opt


def evaluate(root, work, method, test_samples):
    opt = options(root, method, 1, 1)
    opt.update(is_train=False, dist=False, rank=0, world_size=1)
    opt['path']['pretrain_network_g'] = osp.join(work, 'experiments', f'bench_{method}', 'models',
                                                 'net_g_latest.pth')
    if method == 'r2r':
        opt['r2r']['test_samples'] = test_samples
    model = build_model(opt)
    if method == 'r2r':
        model.val_generator.manual_seed(0)
    psnrs = {}
    for name in TEST:
        noisy = cv2.imread(osp.join(root, 'test', 'noisy', f'{name}.png'), cv2.IMREAD_GRAYSCALE) / 255.
        clean = cv2.imread(osp.join(root, 'test', 'clean', f'{name}.png'), cv2.IMREAD_GRAYSCALE).astype(np.float64)
        x = torch.from_numpy(noisy).float()[None, None]
        if method == 'r2r':
            model.feed_val_data({'lq': x})
        else:
            model.lq = x
        model.test()
        out = model.output.clamp(0, 1)[0, 0].double().numpy() * 255.
        psnrs[name] = calculate_psnr(out, clean, 0)
    psnrs['mean'] = float(np.mean(list(psnrs.values())))
    return psnrs


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--iters', type=int, default=1000)
    parser.add_argument('--batch', type=int, default=16)
    parser.add_argument('--work', default='benchmarks/_work/r2r_quality')
    parser.add_argument('--out', default='docs/results/r2r_quality.json')
    args = parser.parse_args()
    work = osp.abspath(args.work)
    root = osp.join(work, 'data')
    build_data(root)
    times = {}
    for method in ('r2r', 'n2c'):
        opt_path = osp.join(work, f'{method}.yml')
        with open(opt_path, 'w') as f:
            yaml.safe_dump(options(root, method, args.iters, args.batch), f)
        start = time.time()
        subprocess.run([sys.executable, '-m', 'basicsr_noise', 'train', '-opt', opt_path], cwd=work, check=True,
                       stdout=subprocess.DEVNULL)
        times[method] = time.time() - start
        print(f'{method}: trained {args.iters} iterations in {times[method]:.0f} s', flush=True)
    noisy = {}
    for name in TEST:
        n = cv2.imread(osp.join(root, 'test', 'noisy', f'{name}.png'), cv2.IMREAD_GRAYSCALE).astype(np.float64)
        c = cv2.imread(osp.join(root, 'test', 'clean', f'{name}.png'), cv2.IMREAD_GRAYSCALE).astype(np.float64)
        noisy[name] = calculate_psnr(n, c, 0)
    noisy['mean'] = float(np.mean(list(noisy.values())))
    results = {
        'setting': {'sigma': SIGMA, 'iters': args.iters, 'batch': args.batch, 'patch': 40, 'arch': 'DnCNN-17 grey',
                    'train': TRAIN, 'test': TEST, 'train_seconds': times},
        'noisy': noisy,
        'n2c': evaluate(root, work, 'n2c', 0),
        'r2r_single_pass': evaluate(root, work, 'r2r', 0),
        'r2r_avg50': evaluate(root, work, 'r2r', 50),
    }
    results['gap_db'] = {k: results[k]['mean'] - results['n2c']['mean'] for k in ('r2r_single_pass', 'r2r_avg50')}
    os.makedirs(osp.dirname(osp.abspath(args.out)), exist_ok=True)
    with open(args.out, 'w') as f:
        json.dump(results, f, indent=2)
    print(json.dumps({k: v['mean'] if isinstance(v, dict) and 'mean' in v else v for k, v in results.items()
                      if k != 'setting'}, indent=2))


if __name__ == '__main__':
    main()
