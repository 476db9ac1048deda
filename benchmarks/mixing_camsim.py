"""The use case, measured on the simulated camera benchmark: does mixing generated pairs into a denoiser's training
help? Equal budget, one denoiser arch and recipe (the PGap recipe's colour DnCNN, 10 layers, 48 features; 1500
iterations, batch 16 of 48x48, Adam 1e-3 x0.1 at 60 % and 90 %, MSE), tested on the camsim test pairs:

(a) the 38 real training pairs only;
(b) the same real pairs, half of every batch replaced in ``feed_data`` (``mixing.ratio: 0.5``) by pairs made from
    the 38 further clean tiles (the clean sources of the noisy-only tiles) by: PNGAN and NoiseTransfer (each trained
    on those same real pairs, ``benchmarks/pngan_camsim.py`` and ``benchmarks/noisetransfer_camsim.py``;
    NoiseTransfer's reference drawn per pair from the real training tiles), AWGN at the matched standard deviation,
    and the heteroscedastic model fitted on the real pairs;
(c) the upper bound: the same further clean tiles with the true camera noise (the benchmark's process).

    python benchmarks/mixing_camsim.py --pngan G.pth --noisetransfer NT.pth --out docs/results/mixing_camsim.json
"""
import basicsr_noise  # noqa: F401  # isort: skip  (first: basicsr 1.4.2 needs its shims)
import argparse
import cv2
import numpy as np
import os
import torch
from benchmark_io import CAMSIM_DENOISER, camsim_denoiser_options, save_results, train_through_basicsr
from camsim_noise_eval import sources
from os import path as osp

from basicsr_noise.data.bundled_images import bundled_image
from basicsr_noise.evaluation.camsim import CAMSIM_TRAIN, camsim_noise_opt, prepare_camsim, tiles
from basicsr_noise.evaluation.pgap import evaluate_denoiser
from basicsr_noise.utils.image_io import write_image


def extra_clean_tiles(camsim, folder):
    """The clean sources of the noisy-only training tiles (the tiles are cut as ``prepare camsim`` cuts them)."""
    wanted = {osp.splitext(n)[0] for n in os.listdir(osp.join(camsim, 'train_noisy_only'))}
    os.makedirs(folder, exist_ok=True)
    for name in CAMSIM_TRAIN:
        for row, col, tile in tiles(bundled_image(name)):
            tile_name = f'{name}_r{row}c{col}'
            if tile_name in wanted:
                write_image(osp.join(folder, f'{tile_name}.png'), cv2.cvtColor(tile, cv2.COLOR_RGB2BGR))
    assert len(os.listdir(folder)) == len(wanted)
    return folder


def denoiser_options(name, camsim, iters, mixing=None, extra_clean=None):
    """The PGap recipe on the real pairs; with ``mixing``, half of every batch generated from ``extra_clean``."""
    opt = camsim_denoiser_options(name, camsim, iters)
    if mixing is not None:
        opt['mixing'] = {'ratio': 0.5, 'noise_opt': mixing}
        opt['datasets']['train']['dataroot_clean'] = extra_clean
    return opt


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--pngan', required=True, help='PNGAN generator checkpoint trained on the camsim pairs.')
    parser.add_argument('--noisetransfer', required=True, help='NoiseTransfer checkpoint trained on the same pairs.')
    parser.add_argument('--iters', type=int, default=1500)
    parser.add_argument('--only', nargs='*', default=None, help='Run only these rows.')
    parser.add_argument('--work', default='benchmarks/_work/mixing_camsim')
    parser.add_argument('--out', default='docs/results/mixing_camsim.json')
    args = parser.parse_args()
    work = osp.abspath(args.work)
    camsim = osp.join(work, 'camsim')
    if not osp.isfile(osp.join(camsim, 'camsim.json')):
        prepare_camsim(camsim)
    extra = extra_clean_tiles(camsim, osp.join(work, 'extra_clean'))
    baselines = sources(camsim)
    rows = {
        'a_real_only': None,
        'b_pngan': {'type': 'GeneratorNoise', 'checkpoint': osp.abspath(args.pngan)},
        'b_noisetransfer': {'type': 'GeneratorNoise', 'checkpoint': osp.abspath(args.noisetransfer),
                            'reference': osp.join(camsim, 'train', 'noisy'), 'param_key': 'params'},
        'b_awgn_matched_std': baselines['awgn_matched_std'],
        'b_hetero_fitted_nlf': baselines['hetero_fitted_nlf'],
        'c_true_camera_noise': camsim_noise_opt(),
    }
    results = {'setting': {'network': CAMSIM_DENOISER, 'iters': args.iters, 'ratio': 0.5, 'extra_clean_tiles':
                           len(os.listdir(extra)), 'real_pairs': len(os.listdir(osp.join(camsim, 'train', 'clean')))}}
    test = {'dataroot_lq': osp.join(camsim, 'test', 'noisy'), 'dataroot_gt': osp.join(camsim, 'test', 'clean')}
    for name, noise_opt in rows.items():
        if args.only and name not in args.only:
            continue
        opt = denoiser_options(f'mix_{name}', camsim, args.iters, noise_opt, extra)
        seconds = train_through_basicsr(work, opt['name'], opt)
        weights = osp.join(work, 'experiments', opt['name'], 'models', 'net_g_latest.pth')
        scores = evaluate_denoiser(weights, test, torch.device('cpu'))
        results[name] = {'noise_opt': noise_opt, 'psnr': float(np.mean(list(scores.values()))), 'seconds': seconds,
                         'per_image': scores}
        print(f'{name}: {results[name]["psnr"]:.2f} dB ({seconds} s)', flush=True)
    if 'a_real_only' in results:
        for name in results:
            if name.startswith(('b_', 'c_')):
                results[name]['gain_over_real_only'] = results[name]['psnr'] - results['a_real_only']['psnr']
    save_results(results, args.out)


if __name__ == '__main__':
    main()
