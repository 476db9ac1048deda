"""The use case, measured on the simulated camera benchmark: does mixing generated pairs into a denoiser's training
help? Equal budget, one denoiser arch and recipe (the PGap recipe's colour DnCNN, 10 layers, 48 features; batch 16 of
48x48, Adam 1e-3 x0.1 at 60 % and 90 %, MSE), tested on the camsim test pairs:

(a) the real training pairs only;
(b) the same real pairs, a fraction ``--ratios`` of every batch replaced in ``feed_data`` (``mixing.ratio``) by pairs
    made from the further clean tiles (the clean sources of the noisy-only tiles) by: PNGAN and NoiseTransfer (each
    trained on those same real pairs, e.g. ``benchmarks/pngan_ablation.py``; NoiseTransfer's reference drawn per
    pair from the real training tiles), AWGN at the matched standard deviation, and the heteroscedastic model fitted
    on the real pairs;
(c) the upper bound: the same further clean tiles with the true camera noise (the benchmark's process);
(f) with ``--finetune_iters N``, PNGAN's own protocol: (a)'s denoiser fine-tuned N more iterations (Adam 1e-4, the
    same decay) on real pairs only (the control) and on real + generated pairs (ratio 0.5) from each source.

With ``--camsim DIR`` (a benchmark prepared with a validation split, e.g. ``prepare camsim --train_stride 64
--val_images coffee``) every row is also scored on the validation pairs, and the ratio of each source is chosen
there (``chosen``); the test scores are the report. Rows already in ``--out`` with the same setting are kept.

    python benchmarks/mixing_camsim.py --pngan G.pth --noisetransfer NT.pth --out docs/results/mixing_camsim.json
"""
import basicsr_noise  # noqa: F401  # isort: skip  (first: basicsr 1.4.2 needs its shims)
import argparse
import cv2
import json
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


def denoiser_options(name, camsim, iters, mixing=None, extra_clean=None, ratio=0.5, finetune_from=None):
    """The PGap recipe on the real pairs; with ``mixing``, a ``ratio`` of every batch generated from ``extra_clean``;
    with ``finetune_from``, that checkpoint fine-tuned at a tenth of the learning rate."""
    opt = camsim_denoiser_options(name, camsim, iters)
    if mixing is not None:
        opt['mixing'] = {'ratio': ratio, 'noise_opt': mixing}
        opt['datasets']['train']['dataroot_clean'] = extra_clean
    if finetune_from is not None:
        opt['path']['pretrain_network_g'] = finetune_from
        opt['train']['optim_g']['lr'] = 1e-4
    return opt


def row_plan(args, camsim, baselines):
    """``{row: (noise_opt, ratio, finetune)}`` in run order."""
    sources = {'pngan': args.pngan and {'type': 'GeneratorNoise', 'checkpoint': osp.abspath(args.pngan)},
               'noisetransfer': args.noisetransfer and {
                   'type': 'GeneratorNoise', 'checkpoint': osp.abspath(args.noisetransfer),
                   'reference': osp.join(camsim, 'train', 'noisy'), 'param_key': 'params'},
               'awgn_matched_std': baselines['awgn_matched_std'], 'hetero_fitted_nlf': baselines['hetero_fitted_nlf'],
               'true_camera_noise': camsim_noise_opt()}
    sources = {k: v for k, v in sources.items() if v}
    plan = {'a_real_only': (None, 0, False)}
    for ratio in args.ratios:
        for source, noise_opt in sources.items():
            plan[f'{"c" if source == "true_camera_noise" else "b"}_{source}_r{ratio:g}'] = (noise_opt, ratio, False)
    if args.finetune_iters:
        plan['f_real_only'] = (None, 0, True)
        for source, noise_opt in sources.items():
            plan[f'f_{source}'] = (noise_opt, 0.5, True)
    return plan


def score(weights, camsim):
    out = {}
    for split in ('val', 'test'):
        if osp.isdir(osp.join(camsim, split)):
            pairs = {'dataroot_lq': osp.join(camsim, split, 'noisy'), 'dataroot_gt': osp.join(camsim, split, 'clean')}
            per_image = evaluate_denoiser(weights, pairs, torch.device('cpu'))
            out[split] = {'psnr': float(np.mean(list(per_image.values()))), 'per_image': per_image}
    return out


def choose(results):
    """Per source (and per protocol), the row with the best validation PSNR, and its gain over real-only on test."""
    chosen = {}
    for name, row in results.items():
        if not name.startswith(('b_', 'c_', 'f_')) or name == 'f_real_only' or 'val' not in row:
            continue
        key = name.rsplit('_r', 1)[0] if name[0] in 'bc' else name
        if key not in chosen or row['val']['psnr'] > results[chosen[key]]['val']['psnr']:
            chosen[key] = name
    control = {'b': 'a_real_only', 'c': 'a_real_only', 'f': 'f_real_only'}
    return {key: {'row': name, 'val_psnr': results[name]['val']['psnr'], 'test_psnr': results[name]['test']['psnr'],
                  'test_gain': results[name]['test']['psnr'] - results[control[name[0]]]['test']['psnr']}
            for key, name in chosen.items() if control[name[0]] in results}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--pngan', help='PNGAN generator checkpoint trained on the camsim pairs.')
    parser.add_argument('--noisetransfer', help='NoiseTransfer checkpoint trained on the same pairs.')
    parser.add_argument('--camsim', help='A prepared camsim benchmark (default: the default one, made in --work).')
    parser.add_argument('--iters', type=int, default=1500)
    parser.add_argument('--ratios', type=float, nargs='+', default=[0.5], help='Generated fraction of each batch.')
    parser.add_argument('--finetune_iters', type=int, default=0, help='PNGAN\'s fine-tune protocol rows (0: none).')
    parser.add_argument('--only', nargs='*', default=None, help='Run only these rows.')
    parser.add_argument('--work', default='benchmarks/_work/mixing_camsim')
    parser.add_argument('--out', default='docs/results/mixing_camsim.json')
    args = parser.parse_args()
    work = osp.abspath(args.work)
    camsim = osp.abspath(args.camsim) if args.camsim else osp.join(work, 'camsim')
    if not osp.isfile(osp.join(camsim, 'camsim.json')):
        prepare_camsim(camsim)
    extra = extra_clean_tiles(camsim, osp.join(work, 'extra_clean'))
    plan = row_plan(args, camsim, sources(camsim))
    setting = {'network': CAMSIM_DENOISER, 'iters': args.iters, 'finetune_iters': args.finetune_iters,
               'camsim': camsim, 'extra_clean_tiles': len(os.listdir(extra)),
               'real_pairs': len(os.listdir(osp.join(camsim, 'train', 'clean')))}
    results = {'setting': setting}
    if osp.isfile(args.out):
        previous = json.load(open(args.out))
        if {k: previous['setting'].get(k) for k in setting} == setting:
            results.update({k: v for k, v in previous.items() if k not in ('setting', 'chosen')})
    for name, (noise_opt, ratio, finetune) in plan.items():
        if args.only and name not in args.only:
            continue
        iters = args.finetune_iters if finetune else args.iters
        base = osp.join(work, 'experiments', 'mix_a_real_only', 'models', 'net_g_latest.pth')
        if finetune and not osp.isfile(base):
            raise SystemExit(f'{name} fine-tunes the real-only denoiser: run a_real_only first ({base}).')
        opt = denoiser_options(f'mix_{name}', camsim, iters, noise_opt, extra, ratio, base if finetune else None)
        seconds = train_through_basicsr(work, opt['name'], opt)
        weights = osp.join(work, 'experiments', opt['name'], 'models', 'net_g_latest.pth')
        results[name] = {'noise_opt': noise_opt, 'ratio': ratio, 'iters': iters, 'seconds': seconds,
                         **score(weights, camsim)}
        results[name]['psnr'] = results[name]['test']['psnr']
        print(f'{name}: test {results[name]["psnr"]:.2f} dB ({seconds} s)', flush=True)
        save_results(results, args.out)
    for name, row in results.items():
        control = {'b': 'a_real_only', 'c': 'a_real_only', 'f': 'f_real_only'}.get(name[0])
        if control in results and name != control:
            row['gain_over_real_only'] = row['psnr'] - results[control]['psnr']
    results['chosen'] = choose(results)
    save_results(results, args.out)


if __name__ == '__main__':
    main()
