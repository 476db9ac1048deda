"""PNGAN's CPU recipe chosen by measurement: one setting changed per arm, at an equal budget, chosen on a validation
split and reported on the test split of the simulated camera benchmark.

Testbed: ``prepare camsim --train_stride 64 --val_images coffee`` (the grid's paired training tiles plus overlapping
crops, each its own noise draw; the coffee image held out as validation; the usual test images). Every PNGAN arm is
``options/pngan/pngan_camsim.yml`` (through ``benchmarks/pngan_camsim.py``'s builder) trained for ``--iters``
iterations with ``val.save_best`` on the validation AKLD (validation every quarter of the run) and
``train.log_grad_norms`` (each generator term's gradient norm at the generated image), and differs from the recipe
arm in one setting:

* the input synthesis ``pngan.noise_opt``: AWGN sigma 50 (the paper's), AWGN sigma 25, the heteroscedastic noise of
  the NLF fitted on the training pairs;
* ``lambda_ra`` (``train.gan_opt.loss_weight``): 8e-4 (the paper's), 8e-3, 8e-2;
* ``D_d``: the recipe's (the PGap DnCNN on the real training pairs, ``--dd_iters``) against an oracle-strong one (the
  same DnCNN trained ``--strong_dd_iters`` on pairs drawn fresh from the true camera process every step, on the
  training clean tiles: an upper bound on what a stronger ``D_d`` gives).

The arm with the lowest validation AKLD (its best checkpoint) is scored on test (AKLD, KS, std, PGap with the
``benchmarks/camsim_noise_eval.py`` recipe) beside the recipe arm and the parametric baselines fitted on the same
training pairs (AWGN at the matched std, the fitted NLF); its budget curve trains it again at half and at twice
the budget.

    python benchmarks/pngan_ablation.py --out docs/results/pngan_ablation.json      # see docs/benchmarks.md
"""
import basicsr_noise  # noqa: F401  # isort: skip  (first: basicsr 1.4.2 needs its shims)
import argparse
import glob
import json
import os
import re
import subprocess
import sys
import torch
import yaml
from benchmark_io import (CAMSIM_PGAP_RECIPE, camsim_denoiser_options, camsim_noise_scores, camsim_pgap_options,
                          save_results)
from camsim_noise_eval import sources as parametric_sources
from concurrent.futures import ThreadPoolExecutor
from os import path as osp
from pngan_camsim import pngan_options

from basicsr_noise.evaluation.camsim import camsim_noise_opt, prepare_camsim
from basicsr_noise.evaluation.pgap import materialise_source, run_pgap

VAL_IMAGES = ('coffee', )
TRAIN_STRIDE = 64
RECIPE_ARM = {'noise_opt': 'awgn50', 'gan_weight': 8e-4, 'dd': 'recipe'}
ARMS = {
    'recipe': {},
    'input_awgn25': {
        'noise_opt': 'awgn25'
    },
    'input_fitted_nlf': {
        'noise_opt': 'fitted_nlf'
    },
    'lambda_ra_8e-3': {
        'gan_weight': 8e-3
    },
    'lambda_ra_8e-2': {
        'gan_weight': 8e-2
    },
    'dd_strong_oracle': {
        'dd': 'strong_oracle'
    },
}
GRAD_TERMS = ('out_g_grad_pix', 'out_g_grad_gan', 'l_g_pix', 'l_g_gan')


def run_training(work, opt, threads):
    """``basicsr-noise train`` on ``opt`` in ``work`` with ``threads`` CPU threads, unless it finished before."""
    models = osp.join(work, 'experiments', opt['name'], 'models')
    if osp.isfile(osp.join(models, 'net_g_latest.pth')):
        return
    path = osp.join(work, f'{opt["name"]}.yml')
    with open(path, 'w') as f:
        yaml.safe_dump(opt, f, sort_keys=False)
    env = dict(os.environ, OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads))
    subprocess.run([sys.executable, '-m', 'basicsr_noise', 'train', '-opt', path],
                   cwd=work,
                   check=True,
                   env=env,
                   stdout=subprocess.DEVNULL)


def train_all(work, opts, workers):
    """Train ``opts`` ``workers`` at a time, one thread each (the CPU's cores shared out)."""
    with ThreadPoolExecutor(workers) as pool:
        list(pool.map(lambda opt: run_training(work, opt, max(1, (os.cpu_count() or 1) // workers)), opts))


def strong_dd_options(camsim, iters):
    """The PGap DnCNN trained on the training clean tiles with the true camera noise drawn fresh every step."""
    opt = camsim_denoiser_options('dd_strong_oracle', camsim, iters)
    opt['datasets']['train'] = {
        'name': 'train',
        'type': 'SyntheticNoiseDataset',
        'dataroot_gt': osp.join(camsim, 'train', 'clean'),
        'noise_opt': camsim_noise_opt(),
        'synthesize_on_device': True,
        'io_backend': {
            'type': 'disk'
        },
        'gt_size': 48,
        'use_hflip': True,
        'use_rot': True,
        'num_worker_per_gpu': 1,
        'batch_size_per_gpu': 16,
        'dataset_enlarge_ratio': 200,
        'prefetch_mode': None
    }
    return opt


def input_noise(camsim):
    fitted = parametric_sources(camsim)['hetero_fitted_nlf']
    awgn = {'type': 'AWGNNoise', 'clip': True, 'quantize': True}
    return {
        'awgn50': dict(awgn, sigma=50),
        'awgn25': dict(awgn, sigma=25),
        'fitted_nlf': dict(fitted, clip=True, quantize=True)
    }


def arm_options(name, setting, camsim, work, iters, inputs):
    setting = dict(RECIPE_ARM, **setting)
    opt = pngan_options(camsim, work, iters)
    opt['name'] = f'pngan_{name}_{iters}'
    opt['datasets']['val'].update(
        name='camsim_val', dataroot_lq=osp.join(camsim, 'val', 'noisy'), dataroot_gt=osp.join(camsim, 'val', 'clean'))
    opt['pngan']['noise_opt'] = inputs[setting['noise_opt']]
    opt['train']['gan_opt']['loss_weight'] = setting['gan_weight']
    opt['train']['log_grad_norms'] = True
    opt['path']['pretrain_network_dd'] = osp.join(work, 'experiments', f'dd_{setting["dd"]}', 'models',
                                                  'net_g_latest.pth')
    opt['val'].update(val_freq=max(1, iters // 4), save_best={'metric': 'akld', 'mode': 'min'})
    opt['logger'].update(print_freq=max(1, iters // 20), save_checkpoint_freq=iters)
    return opt


def logged_means(work, name, keys=GRAD_TERMS, last=0.25):
    """Means of ``keys`` over the last ``last`` share of a run's logged iterations, and its validation AKLDs."""
    log = open(sorted(glob.glob(osp.join(work, 'experiments', name, 'train_*.log')))[-1]).read()
    rows = [line for line in log.splitlines() if 'iter:' in line and 'l_g_pix' in line]
    rows = rows[int(len(rows) * (1 - last)):]
    means = {}
    for key in keys:
        values = [float(m.group(1)) for line in rows for m in [re.search(rf'{key}: ([-+0-9.e]+)', line)] if m]
        means[key] = sum(values) / len(values) if values else None
    val = [float(v) for v in re.findall(r'# akld: ([0-9.e+-]+)', log)]
    return means, val


def test_scores(work, camsim, name, noise_opt):
    fake = osp.join(work, 'generated', name)
    materialise_source(noise_opt, osp.join(camsim, 'test', 'clean'), fake, seed=100)
    return camsim_noise_scores(camsim, fake, work, name)


def best_record(work, name):
    ckpt = osp.join(work, 'experiments', name, 'models', 'net_g_best.pth')
    return ckpt, torch.load(ckpt, map_location='cpu', weights_only=False)['meta']['best']


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--iters', type=int, default=600, help='PNGAN iterations per arm.')
    parser.add_argument('--dd_iters', type=int, default=1500, help="The recipe D_d's iterations.")
    parser.add_argument('--strong_dd_iters', type=int, default=3000, help="The oracle-strong D_d's iterations.")
    parser.add_argument('--pgap_iters', type=int, default=1500, help='PGap iterations per denoiser.')
    parser.add_argument('--workers', type=int, default=2, help='Trainings run at once (threads shared out).')
    parser.add_argument('--arms', nargs='*', default=list(ARMS))
    parser.add_argument('--no_budget_curve', action='store_true')
    parser.add_argument('--work', default='benchmarks/_work/pngan_ablation')
    parser.add_argument('--out', default='docs/results/pngan_ablation.json')
    args = parser.parse_args()
    work = osp.abspath(args.work)
    camsim = osp.join(work, 'camsim')
    os.makedirs(work, exist_ok=True)
    if not osp.isfile(osp.join(camsim, 'camsim.json')):
        prepare_camsim(camsim, train_stride=TRAIN_STRIDE, val_images=VAL_IMAGES)
    inputs = input_noise(camsim)
    train_all(
        work,
        [camsim_denoiser_options('dd_recipe', camsim, args.dd_iters),
         strong_dd_options(camsim, args.strong_dd_iters)], args.workers)
    arms = {name: arm_options(name, ARMS[name], camsim, work, args.iters, inputs) for name in args.arms}
    train_all(work, list(arms.values()), args.workers)
    manifest = json.load(open(osp.join(camsim, 'camsim.json')))
    results = {
        'setting': {
            'testbed': {
                'train_stride': TRAIN_STRIDE,
                'val_images': list(VAL_IMAGES),
                'train_pairs': len(os.listdir(osp.join(camsim, 'train', 'clean'))),
                'val_pairs': len(os.listdir(osp.join(camsim, 'val', 'clean'))),
                'test_images': manifest['test_images']
            },
            'iters': args.iters,
            'dd_iters': args.dd_iters,
            'strong_dd_iters': args.strong_dd_iters,
            'pgap_iters': args.pgap_iters,
            'recipe_arm': RECIPE_ARM,
            'inputs': inputs,
            'selection': 'lowest validation AKLD of the best checkpoint (val.save_best, validation every quarter)',
            'test': 'one generated image per test tile, seeds 100 + index'
        },
        'arms': {}
    }
    for name, opt in arms.items():
        ckpt, best = best_record(work, opt['name'])
        grads, val_curve = logged_means(work, opt['name'])
        results['arms'][name] = {
            'change': ARMS[name],
            'val_akld_best': best['value'],
            'best_iter': best['iter'],
            'val_akld_curve': val_curve,
            'last_quarter_means': grads,
            'checkpoint': ckpt
        }
        print(f'{name}: val AKLD {best["value"]:.4f} (iteration {best["iter"]}), grads {grads}', flush=True)
    chosen = min(results['arms'], key=lambda n: results['arms'][n]['val_akld_best'])
    results['chosen'] = chosen
    recipe = dict(CAMSIM_PGAP_RECIPE, total_iter=args.pgap_iters)
    baselines = parametric_sources(camsim)
    test_rows = {'awgn_matched_std': baselines['awgn_matched_std'], 'hetero_fitted_nlf': baselines['hetero_fitted_nlf']}
    for name in dict.fromkeys(['recipe', chosen]):
        if name in results['arms']:
            test_rows[f'pngan_{name}'] = {'type': 'GeneratorNoise', 'checkpoint': results['arms'][name]['checkpoint']}
    results['test'] = {}
    for name, noise_opt in test_rows.items():
        entry = dict(noise_opt=noise_opt, **test_scores(work, camsim, name, noise_opt))
        pgap = run_pgap(camsim_pgap_options(f'ablation_{name}', camsim, noise_opt, recipe), root=work)
        entry.update({k: pgap[k] for k in ('psnr_real_trained', 'psnr_source_trained', 'pgap')})
        results['test'][name] = entry
        print(
            f'test {name}: AKLD {entry["akld"]:.4f} KS {entry["ks"]:.4f} std {entry["fake_std"]:.2f} '
            f'(real {entry["real_std"]:.2f}) PGap {entry["pgap"]:.2f}',
            flush=True)
        save_results(results, args.out)
    if not args.no_budget_curve:
        budgets = sorted({args.iters // 2, args.iters, args.iters * 2})
        opts = {b: arm_options(chosen, ARMS[chosen], camsim, work, b, inputs) for b in budgets}
        train_all(work, [o for b, o in opts.items() if b != args.iters], args.workers)
        curve = []
        for budget, opt in opts.items():
            ckpt, best = best_record(work, opt['name'])
            scores = test_scores(work, camsim, f'budget_{budget}', {'type': 'GeneratorNoise', 'checkpoint': ckpt})
            curve.append(dict(iters=budget, val_akld_best=best['value'], best_iter=best['iter'], **scores))
            print(f'budget {budget}: val AKLD {best["value"]:.4f}, test AKLD {scores["akld"]:.4f}', flush=True)
        results['budget_curve'] = {'arm': chosen, 'points': curve}
    save_results(results, args.out)


if __name__ == '__main__':
    main()
