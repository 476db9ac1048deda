"""The camsim quality benchmarks at a budget the CPU cannot give: NTGAN, PNGAN, NoiseTransfer and the mixing use case
at the published widths and ten times their CPU iterations, one command on the GPU machine, with budget curves.

Every arm is the CPU benchmark's own recipe (``benchmarks/ntgan_quality.py``, ``pngan_camsim.py``,
``noisetransfer_camsim.py``, ``mixing_camsim.py``: their option builders are imported, nothing is copied), changed
in three settings only: the device, the published widths (NTGAN 64, PNGAN's SMNet and dense D 64, NoiseTransfer
64: the shipped full option files' values) and the iterations (``--scale`` x 10 x the CPU run's). Each run saves
checkpoints at 1/4, 1/2 and all of its iterations; every checkpoint is scored (the budget curve):

* ``ntgan``: NTGAN (the shipped recipe with its own simulator) and N2C (the same network on the real pairs),
  PSNR on the camsim test tiles (the mismatched noise of the CPU table);
* ``pngan``: D_d (10x its CPU iterations), then PNGAN; AKLD / KS of one generated image per test tile, and PGap at
  the last checkpoint;
* ``noisetransfer``: the camsim recipe at width 64; paired-reference AKLD / KS and the generated noise std;
* ``mixing``: the denoiser on real pairs only, + PNGAN, + NoiseTransfer (the generators just trained), + the true
  camera noise, each with half of every batch generated.

Arms run in that order until ``--minutes`` is spent; an arm that would start later is recorded as skipped, and each
run's seconds are recorded, so that a later session can size the next run. Results: ``$OUT/convergence.json``.

    python benchmarks/gpu/convergence.py --device cuda --out $OUT [--minutes 7.5] [--scale 1]
    python benchmarks/gpu/convergence.py --device cpu --tiny --out /tmp/x     # the dry run of the test suite
"""
import basicsr_noise  # noqa: F401  # isort: skip  (first: basicsr 1.4.2 needs its shims)
import argparse
import copy
import json
import os
import sys
import time
import torch
from os import path as osp

BENCHMARKS = osp.dirname(osp.dirname(osp.abspath(__file__)))
sys.path.insert(0, BENCHMARKS)

import mixing_camsim  # noqa: E402
import noisetransfer_camsim  # noqa: E402
import ntgan_quality  # noqa: E402
import pngan_camsim  # noqa: E402
from benchmark_io import (CAMSIM_PGAP_RECIPE, camsim_noise_scores, camsim_pgap_options,  # noqa: E402
                          train_through_basicsr)

from basicsr_noise.data.generated_images import generate_paired_transfer  # noqa: E402
from basicsr_noise.evaluation.camsim import camsim_noise_opt, prepare_camsim  # noqa: E402
from basicsr_noise.evaluation.pgap import evaluate_denoiser, materialise_source, run_pgap  # noqa: E402
from basicsr_noise.noise import GeneratorNoise  # noqa: E402
from basicsr_noise.utils.options import load_options, shipped_options  # noqa: E402

CPU_ITERS = {'ntgan': 2000, 'pngan': 1500, 'dd': 1500, 'noisetransfer': 1500, 'mixing': 1500, 'pgap': 1500}
ARMS = ('ntgan', 'pngan', 'noisetransfer', 'mixing')


def published_width(option_file, network):
    return load_options(shipped_options(*option_file.split('/')))[network]['num_feat']


class Budget:
    """Iterations per run, checkpoints at 1/4, 1/2 and 1 of them, a deadline for starting arms, the device."""

    def __init__(self, args):
        self.args, self.deadline = args, time.time() + 60 * args.minutes
        self.num_gpu = 1 if args.device == 'cuda' else 0

    def iters(self, what):
        return 4 if self.args.tiny else max(4, int(round(10 * CPU_ITERS[what] * self.args.scale)))

    def points(self, iters):
        return sorted({max(1, iters // 4), max(1, iters // 2), iters})

    def apply(self, opt, iters, widths=None):
        """The recipe ``opt`` on this device, at ``iters``, saving the budget points; ``widths``:
        ``{network key: num_feat}``."""
        opt = copy.deepcopy(opt)
        opt['num_gpu'] = self.num_gpu
        opt['train']['total_iter'] = iters
        scheduler = opt['train'].get('scheduler') or {}
        if 'T_max' in scheduler:
            scheduler['T_max'] = iters
        if 'milestones' in scheduler and scheduler.get('type') == 'MultiStepLR':
            scheduler['milestones'] = [max(1, int(iters * 0.6)), max(1, int(iters * 0.9))]
        opt['logger'].update(save_checkpoint_freq=max(1, iters // 4), print_freq=max(1, iters // 10))
        opt.pop('val', None)  # the script scores every budget point itself
        opt['datasets'] = {phase: value for phase, value in opt['datasets'].items() if not phase.startswith('val')}
        for network, width in (widths or {}).items():
            if not self.args.tiny:
                opt[network]['num_feat'] = width
        if self.args.tiny:
            opt['datasets']['train']['num_worker_per_gpu'] = 0
        for phase in opt['datasets'].values():
            phase['pin_memory'] = self.num_gpu > 0
        return opt

    def started_in_time(self):
        return time.time() < self.deadline


def checkpoints(work, name, iters, budget, net='net_g'):
    """``{iteration: checkpoint}`` of one run at the budget points (the last one is ``_latest``)."""
    models = osp.join(work, 'experiments', name, 'models')
    return {
        it: osp.join(models, f'{net}_{it}.pth' if it != iters else f'{net}_latest.pth')
        for it in budget.points(iters)
    }


def run(work, opt, seconds):
    seconds[opt['name']] = train_through_basicsr(work, opt['name'], opt)
    print(f'{opt["name"]}: {opt["train"]["total_iter"]} iterations in {seconds[opt["name"]]} s', flush=True)


def device():
    return torch.device('cuda' if torch.cuda.is_available() else 'cpu')


def test_pairs(camsim):
    return {'dataroot_lq': osp.join(camsim, 'test', 'noisy'), 'dataroot_gt': osp.join(camsim, 'test', 'clean')}


def mean(values):
    return float(sum(values) / len(values))


def ntgan_simulator(dorf_dir):
    """The shipped recipe's simulator with the DoRF curves at ``dorf_dir`` (carry them to the device: they may not
    be committed), else with the parametric gamma CRF (recorded in the results)."""
    noise_opt = dict(load_options(shipped_options('ntgan', 'ntgan.yml'))['ntgan']['noise_opt'])
    if dorf_dir and osp.isfile(osp.join(dorf_dir, '201_CRF_data.mat')):
        return dict(noise_opt, dorf_dir=osp.abspath(dorf_dir))
    noise_opt.pop('dorf_dir', None)
    return dict(noise_opt, crf='gamma')


# ------------------------------------------------------------------------------------------------------ the arms
def ntgan_arm(camsim, work, budget, seconds):
    iters = budget.iters('ntgan')
    width = published_width('ntgan/ntgan.yml', 'network_g')
    simulator = ntgan_simulator(budget.args.dorf)
    curves = {}
    for method in ('ntgan', 'n2c'):
        (name, opt), = ntgan_quality.method_options(method, camsim, None, iters, 'gpu')
        if method == 'ntgan':
            opt['ntgan']['noise_opt'] = simulator
        widths = {'network_g': width, **({'network_d': width} if 'network_d' in opt else {})}
        opt = budget.apply(opt, iters, widths)
        run(work, opt, seconds)
        curves[method] = {
            it: mean(evaluate_denoiser(ckpt, test_pairs(camsim), device()).values())
            for it, ckpt in checkpoints(work, name, iters, budget).items()
        }
    gap = {it: curves['ntgan'][it] - curves['n2c'][it] for it in curves['ntgan']}
    return {'iters': iters, 'width': width, 'simulator': simulator, 'psnr': curves, 'ntgan_minus_n2c': gap}


def pngan_arm(camsim, work, budget, seconds):
    dd_iters, iters = budget.iters('dd'), budget.iters('pngan')
    dd = budget.apply(pngan_camsim.denoiser_options(camsim, dd_iters), dd_iters)
    run(work, dd, seconds)
    opt = pngan_camsim.pngan_options(camsim, work, iters)
    widths = {key: published_width('pngan/pngan_sidd.yml', key) for key in ('network_g', 'network_d')}
    opt = budget.apply(opt, iters, widths)
    run(work, opt, seconds)
    curve = {}
    for it, ckpt in checkpoints(work, opt['name'], iters, budget).items():
        fake = osp.join(work, 'generated', f'pngan_{it}')
        source = {'type': 'GeneratorNoise', 'checkpoint': ckpt}
        materialise_source(source, osp.join(camsim, 'test', 'clean'), fake, seed=100)
        curve[it] = camsim_noise_scores(camsim, fake, work, f'pngan_{it}')
    final = checkpoints(work, opt['name'], iters, budget)[iters]
    pgap_opt = camsim_pgap_options('gpu_pgap_pngan', camsim, {
        'type': 'GeneratorNoise',
        'checkpoint': final
    }, dict(CAMSIM_PGAP_RECIPE, total_iter=budget.iters('pgap')))
    pgap_opt['num_gpu'] = budget.num_gpu
    pgap = run_pgap(pgap_opt, root=work)
    return {
        'iters': iters,
        'dd_iters': dd_iters,
        'widths': widths,
        'curve': curve,
        'checkpoint': final,
        'pgap': {
            k: pgap[k]
            for k in ('psnr_real_trained', 'psnr_source_trained', 'pgap')
        }
    }


def noisetransfer_arm(camsim, work, budget, seconds):
    iters = budget.iters('noisetransfer')
    settings = noisetransfer_camsim.settings_of(camsim, 'train')
    class_file = osp.join(work, 'train_settings.txt')
    with open(class_file, 'w') as f:
        f.writelines(f'{name} {setting}\n' for name, setting in sorted(settings.items()))
    opt = noisetransfer_camsim.nt_options(osp.join(camsim, 'train'), class_file, 'gpu_noisetransfer', iters)
    widths = {key: published_width('noisetransfer.yml', key) for key in ('network_g', 'network_d')}
    opt = budget.apply(opt, iters, widths)
    run(work, opt, seconds)
    curve = {}
    for it, ckpt in checkpoints(work, opt['name'], iters, budget).items():
        fake = osp.join(work, 'generated', f'noisetransfer_{it}')
        noise = GeneratorNoise(ckpt, reference=osp.join(camsim, 'test', 'noisy'), param_key='params')
        generate_paired_transfer(noise, osp.join(camsim, 'test', 'clean'), fake, 100)
        curve[it] = camsim_noise_scores(camsim, fake, work, f'noisetransfer_{it}')
    return {
        'iters': iters,
        'widths': widths,
        'curve': curve,
        'checkpoint': checkpoints(work, opt['name'], iters, budget)[iters]
    }


def mixing_arm(camsim, work, budget, seconds, generators):
    iters = budget.iters('mixing')
    extra = mixing_camsim.extra_clean_tiles(camsim, osp.join(work, 'extra_clean'))
    rows = {'a_real_only': None}
    if not budget.args.tiny:  # the dry run checks the generators' wiring; the upper bound is a plain noise model
        rows['c_true_camera_noise'] = camsim_noise_opt()
    if 'pngan' in generators:
        rows['b_pngan'] = {'type': 'GeneratorNoise', 'checkpoint': generators['pngan']}
    if 'noisetransfer' in generators:
        rows['b_noisetransfer'] = {
            'type': 'GeneratorNoise',
            'checkpoint': generators['noisetransfer'],
            'reference': osp.join(camsim, 'train', 'noisy'),
            'param_key': 'params'
        }
    curves = {}
    for row, noise_opt in rows.items():
        opt = budget.apply(mixing_camsim.denoiser_options(f'gpu_mix_{row}', camsim, iters, noise_opt, extra), iters)
        run(work, opt, seconds)
        curves[row] = {
            it: mean(evaluate_denoiser(ckpt, test_pairs(camsim), device()).values())
            for it, ckpt in checkpoints(work, opt['name'], iters, budget).items()
        }
    gains = {
        row: {
            it: v - curves['a_real_only'][it]
            for it, v in curve.items()
        }
        for row, curve in curves.items() if row != 'a_real_only'
    }
    return {'iters': iters, 'psnr': curves, 'gain_over_real_only': gains}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--device', default='cuda', choices=['cuda', 'cpu'])
    parser.add_argument('--out', default=os.environ.get('OUT', 'gpu_out'))
    parser.add_argument('--minutes', type=float, default=7.5, help='No arm starts after this many minutes.')
    parser.add_argument('--scale', type=float, default=1.0, help='Iterations: scale x 10 x the CPU run.')
    parser.add_argument('--arms', nargs='+', default=list(ARMS), choices=ARMS)
    parser.add_argument('--tiny', action='store_true', help='4 iterations and the CPU widths: the dry run.')
    parser.add_argument('--work', default=None, help='Working folder (default: $OUT/work).')
    parser.add_argument('--dorf', default='datasets/DoRF', help='The DoRF curves for NTGAN\'s simulator, if present.')
    args = parser.parse_args()
    if args.device == 'cuda' and not torch.cuda.is_available():
        sys.exit('--device cuda, but CUDA is not available.')
    os.makedirs(args.out, exist_ok=True)
    work = osp.abspath(args.work or osp.join(args.out, 'work'))
    os.makedirs(work, exist_ok=True)
    camsim = osp.join(work, 'camsim')
    budget = Budget(args)
    results = {
        'setting': {
            'device': args.device,
            'gpu': torch.cuda.get_device_name() if args.device == 'cuda' else None,
            'tiny': args.tiny,
            'scale': args.scale,
            'minutes': args.minutes,
            'cpu_iters': CPU_ITERS,
            'torch': torch.__version__
        },
        'seconds': {},
        'skipped': []
    }
    generators = {}
    arms = {
        'ntgan': lambda: ntgan_arm(camsim, work, budget, results['seconds']),
        'pngan': lambda: pngan_arm(camsim, work, budget, results['seconds']),
        'noisetransfer': lambda: noisetransfer_arm(camsim, work, budget, results['seconds']),
        'mixing': lambda: mixing_arm(camsim, work, budget, results['seconds'], generators)
    }
    for arm in args.arms:
        if not budget.started_in_time():
            results['skipped'].append(arm)
            print(f'{arm}: skipped, past the {args.minutes}-minute budget', flush=True)
            continue
        start = time.time()
        if not osp.isfile(osp.join(camsim, 'camsim.json')):
            prepare_camsim(camsim)
        results[arm] = arms[arm]()
        results[arm]['seconds'] = round(time.time() - start, 1)
        if 'checkpoint' in results[arm]:
            generators[arm] = results[arm]['checkpoint']
        with open(osp.join(args.out, 'convergence.json'), 'w') as f:  # after every arm: a timeout keeps the rest
            json.dump(results, f, indent=1)
    print(json.dumps({k: v for k, v in results.items() if k != 'setting'}, indent=1))


if __name__ == '__main__':
    main()
