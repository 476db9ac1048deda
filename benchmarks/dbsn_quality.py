"""DBSN against N2C at one training budget: grey AWGN sigma 25 and heteroscedastic noise (alpha 40, delta 10).

For each noise setting, four denoisers, each trained through ``basicsr train`` for the same number of iterations
(same patches, batch and learning-rate schedule):

* **N2C**: the student arch with clean targets (``SynthNoiseDenoiserModel``, fresh noise on every draw);
* **D-BSN (mu)** and **D-BSN (fused)**: ``DBSNModel`` from noisy images only, half the budget blind-spot
  pre-training (stage mu), half joint training with the paper's constrained likelihood (stage joint);
  mu is the raw blind-spot output, fused its Bayes fusion with the noisy image;
* **distilled**: the same student arch trained by ``DBSNDistillModel`` from the frozen D-BSN (1/8 of each batch
  noisy images with fused pseudo-targets, 7/8 unrelated clean crops with noise from the learned noise model).

Training images and test images are disjoint images bundled with scikit-image (``bench_images.py``). The noise is
float and unclipped, as in the paper's synthetic experiments; testing uses fixed-seed noise and PSNR of outputs
clipped to [0, 1]. The CPU budget forces smaller networks than the paper's (stated in the JSON).

    python benchmarks/dbsn_quality.py --iters 2000 --out docs/results/dbsn_quality.json
"""
import basicsr_noise  # noqa: F401  # isort: skip  (first: basicsr 1.4.2 needs its shims)
import argparse
import cv2
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
from benchmark_io import save_results
from os import path as osp

from basicsr_noise.noise import build_noise
from basicsr_noise.utils.denoiser import NetworkDenoiser

NOISE = {
    'awgn25': {'noise_opt': {'type': 'AWGNNoise', 'sigma': 25}, 'noise_model': 'awgn'},
    'hetero40_10': {'noise_opt': {'type': 'HeteroscedasticGaussianNoise', 'alpha': 40, 'delta': 10},
                    'noise_model': 'hetero'},
}
DBSN_ARCH = {'type': 'DBSNNet', 'num_in_ch': 1, 'num_feat': 48, 'num_blocks': 2}
SIGMA_MU_ARCH = {'type': 'DBSNSigmaMuNet', 'num_feat': 48, 'num_mid': 16, 'num_out': 1}
NOISE_ARCH = {'type': 'DBSNNoiseEstimator', 'num_in_ch': 1, 'num_mid': 16, 'num_out': 1}
STUDENT_ARCH = {'type': 'MWCNN', 'num_in_ch': 1, 'feats': [32, 64, 64]}
PATCH, BATCH = 48, 8


def build_data(root):
    for split, names in (('train', TRAIN), ('test', TEST)):
        os.makedirs(osp.join(root, split), exist_ok=True)
        for name in names:
            img = grey_image(name)
            cv2.imwrite(osp.join(root, split, f'{name}.png'), centre_crop(img, 160) if split == 'test' else img)


def _train_set(root, noise_opt, **extra):
    return dict({
        'name': 'train', 'type': 'SyntheticNoiseDataset', 'dataroot_gt': osp.join(root, 'train'), 'noise_opt':
        noise_opt, 'io_backend': {'type': 'disk'}, 'color': 'gray', 'gt_size': PATCH, 'use_hflip': True,
        'use_rot': True, 'num_worker_per_gpu': 1, 'batch_size_per_gpu': BATCH, 'dataset_enlarge_ratio': 500,
        'prefetch_mode': None
    }, **extra)


def options(root, setting, run, iters):
    """Option dict of one run: ``n2c``, ``dbsn_mu``, ``dbsn_joint`` or ``distill``."""
    noise = NOISE[setting]
    opt = {
        'name': f'{setting}_{run}', 'scale': 1, 'num_gpu': 0, 'manual_seed': 0,
        'path': {'pretrain_network_g': None, 'strict_load_g': True, 'resume_state': None},
        'train': {
            'ema_decay': 0, 'optim_g': {'type': 'Adam', 'lr': 1e-3, 'betas': [0.9, 0.999]},
            'scheduler': {'type': 'MultiStepLR', 'milestones': [int(iters * 0.6), int(iters * 0.9)], 'gamma': 0.1},
            'total_iter': iters, 'warmup_iter': -1,
            'pixel_opt': {'type': 'MSELoss', 'loss_weight': 1.0, 'reduction': 'mean'}
        },
        'logger': {'print_freq': 100, 'save_checkpoint_freq': iters, 'use_tb_logger': False},
    }
    models = {k: osp.join('experiments', f'{setting}_{k}', 'models') for k in ('dbsn_mu', 'dbsn_joint')}
    if run == 'n2c':
        opt.update(model_type='SynthNoiseDenoiserModel', network_g=STUDENT_ARCH,
                   datasets={'train': _train_set(root, noise['noise_opt'])})
    elif run.startswith('dbsn'):
        stage = run.split('_')[1]
        opt.update(model_type='DBSNModel', network_g=DBSN_ARCH, network_sigma_mu=SIGMA_MU_ARCH,
                   network_noise=NOISE_ARCH, datasets={'train': _train_set(root, noise['noise_opt'])},
                   dbsn={'noise_model': noise['noise_model'], 'stage': stage})
        opt['train']['likelihood_opt'] = {'type': 'DBSNLikelihoodLoss', 'mode': 'constrained'}
        if stage == 'joint':
            opt['path']['pretrain_network_g'] = osp.join(models['dbsn_mu'], 'net_g_latest.pth')
            opt['train']['optim_g']['lr'] = 3e-4
    elif run == 'distill':
        train_set = _train_set(root, noise['noise_opt'], type='UnpairedCleanNoisyDataset',
                               dataroot_lq=osp.join(root, 'train'))
        opt.update(model_type='DBSNDistillModel', network_g=STUDENT_ARCH, datasets={'train': train_set},
                   network_teacher=DBSN_ARCH, network_teacher_sigma_mu=SIGMA_MU_ARCH, network_teacher_noise=NOISE_ARCH,
                   distill={'noise_model': noise['noise_model']})
        for key, label in (('teacher', 'g'), ('teacher_sigma_mu', 'sigma_mu'), ('teacher_noise', 'noise')):
            opt['path'][f'pretrain_network_{key}'] = osp.join(models['dbsn_joint'], f'net_{label}_latest.pth')
    return opt


def make_test_pairs(root, setting):
    """Fixed-seed float noisy test images (unclipped) and their clean versions, as (1, 1, H, W) tensors."""
    noise = build_noise(NOISE[setting]['noise_opt'])
    pairs = {}
    for i, name in enumerate(TEST):
        clean = torch.from_numpy(cv2.imread(osp.join(root, 'test', f'{name}.png'), cv2.IMREAD_GRAYSCALE) / 255.)
        clean = clean.float()[None, None]
        pairs[name] = (noise(clean, torch.Generator().manual_seed(1000 + i)).noisy, clean)
    return pairs


def _psnr(out, clean):
    return calculate_psnr(out.clamp(0, 1)[0, 0].double().numpy() * 255., clean[0, 0].double().numpy() * 255., 0)


def evaluate(root, work, setting):
    pairs = make_test_pairs(root, setting)
    scores = {k: {} for k in ('noisy', 'n2c', 'dbsn_mu', 'dbsn_fused', 'distilled')}
    dbsn_opt = options(root, setting, 'dbsn_joint', 1)
    models = osp.join(work, 'experiments', f'{setting}_dbsn_joint', 'models')
    dbsn_opt.update(is_train=False, dist=False, rank=0, world_size=1)
    dbsn_opt['path'].update({f'pretrain_network_{k}': osp.join(models, f'net_{k}_latest.pth')
                             for k in ('g', 'sigma_mu', 'noise')})
    dbsn = build_model(dbsn_opt)
    students = {
        k: NetworkDenoiser(osp.join(work, 'experiments', f'{setting}_{run}', 'models', 'net_g_latest.pth'),
                           torch.device('cpu'))
        for k, run in (('n2c', 'n2c'), ('distilled', 'distill'))
    }
    with torch.no_grad():
        for name, (noisy, clean) in pairs.items():
            scores['noisy'][name] = _psnr(noisy, clean)
            dbsn.feed_val_data({'lq': noisy})
            dbsn.test()
            scores['dbsn_mu'][name] = _psnr(dbsn.output_mu, clean)
            scores['dbsn_fused'][name] = _psnr(dbsn.output, clean)
            for key, net in students.items():
                scores[key][name] = _psnr(net(noisy), clean)
    for values in scores.values():
        values['mean'] = float(np.mean(list(values.values())))
    return scores


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--iters', type=int, default=2000, help='Training budget of every denoiser.')
    parser.add_argument('--settings', nargs='+', default=list(NOISE), choices=list(NOISE))
    parser.add_argument('--work', default='benchmarks/_work/dbsn_quality')
    parser.add_argument('--out', default='docs/results/dbsn_quality.json')
    args = parser.parse_args()
    work = osp.abspath(args.work)
    root = osp.join(work, 'data')
    build_data(root)
    results = {
        'setting': {
            'iters_per_denoiser': args.iters, 'dbsn_split': 'half stage mu, half stage joint', 'batch': BATCH,
            'patch': PATCH, 'dbsn_arch': DBSN_ARCH, 'student_arch': STUDENT_ARCH, 'train': TRAIN, 'test': TEST,
            'test_crop': 160, 'noise': {k: v['noise_opt'] for k, v in NOISE.items() if k in args.settings}
        },
        'train_seconds': {},
    }
    runs = (('n2c', args.iters), ('dbsn_mu', args.iters // 2), ('dbsn_joint', args.iters - args.iters // 2),
            ('distill', args.iters))
    for setting in args.settings:
        for run, iters in runs:
            opt_path = osp.join(work, f'{setting}_{run}.yml')
            with open(opt_path, 'w') as f:
                yaml.safe_dump(options(root, setting, run, iters), f)
            start = time.time()
            subprocess.run([sys.executable, '-m', 'basicsr_noise', 'train', '-opt', opt_path], cwd=work, check=True,
                           stdout=subprocess.DEVNULL)
            results['train_seconds'][f'{setting}_{run}'] = round(time.time() - start, 1)
            print(f'{setting} {run}: {iters} iterations in {time.time() - start:.0f} s', flush=True)
        scores = evaluate(root, work, setting)
        n2c = scores['n2c']['mean']
        results[setting] = {
            'psnr': scores,
            'gap_to_n2c_db': {k: round(scores[k]['mean'] - n2c, 3) for k in ('dbsn_mu', 'dbsn_fused', 'distilled')}
        }
    save_results(results, args.out)


if __name__ == '__main__':
    main()
