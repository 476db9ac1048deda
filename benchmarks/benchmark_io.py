"""Shared benchmark helpers: results as JSON under docs/results, an in-memory training set, BasicSR's loop timing."""
import basicsr_noise  # noqa: F401  # isort: skip  (first: basicsr 1.4.2 needs its shims)
import datetime
import glob
import json
import os
import time
import torch
from basicsr.utils.registry import DATASET_REGISTRY
from os import path as osp
from torch.utils import data as data


def save_results(results, out):
    os.makedirs(osp.dirname(osp.abspath(out)), exist_ok=True)
    with open(out, 'w') as f:
        json.dump(results, f, indent=2)
    print(json.dumps(results, indent=2))


@DATASET_REGISTRY.register()
class InMemoryPatchBenchmarkDataset(data.Dataset):
    """Random patches held in memory (benchmark only), so that decoding does not blur the framework's overhead."""

    def __init__(self, opt):
        self.opt = opt
        g = torch.Generator().manual_seed(0)
        self.patches = torch.rand(opt['num_patches'], 3, opt['gt_size'], opt['gt_size'], generator=g)

    def __getitem__(self, index):
        return {'lq': self.patches[index], 'lq_path': f'{int(index)}.png'}

    def __len__(self):
        return len(self.patches)


def _log_seconds(line):
    return datetime.datetime.strptime(line[:23], '%Y-%m-%d %H:%M:%S,%f').timestamp()


def basicsr_seconds_per_iter(work, name, iters):
    """Seconds per iteration of a finished ``basicsr train`` run: from its "Start training" to its "End of
    training" log line."""
    log = open(sorted(glob.glob(osp.join(work, 'experiments', name, 'train_*.log')))[-1]).read().splitlines()
    start = next(_log_seconds(line) for line in log if 'Start training from' in line)
    end = next(_log_seconds(line) for line in log if 'End of training' in line)
    return (end - start) / iters


def side_by_side(script, sides, pairs, *args):
    """Measure ``sides`` in turns, A B [C ...] A B ..., each run a fresh process ``script --side NAME ARGS`` that
    prints ``{"seconds": ...}`` as its last line; returns the rounds and, for each later side, the median ratio
    side / A with its range (``median_ratio`` etc. for the second side)."""
    import statistics
    import subprocess
    import sys

    def run(side):
        out = subprocess.run([sys.executable, script, '--side', side, *map(str, args)], capture_output=True,
                             text=True, check=True, cwd=osp.dirname(osp.abspath(script)))
        return json.loads(out.stdout.strip().splitlines()[-1])['seconds']

    rounds = []
    for _ in range(pairs):
        seconds = {side: run(side) for side in sides}
        rounds.append(dict(seconds, **{f'ratio_{side}': seconds[side] / seconds[sides[0]] for side in sides[1:]}))
        print(', '.join(f'{side} {value:.4f} s' for side, value in seconds.items()), flush=True)
    summary = {}
    for side in sides[1:]:
        ratios = [r[f'ratio_{side}'] for r in rounds]
        summary[side] = {'median_ratio': statistics.median(ratios), 'min_ratio': min(ratios),
                         'max_ratio': max(ratios)}
    return dict(summary[sides[1]], pairs=rounds, ratios=summary)


def train_through_basicsr(work, name, opt):
    """``basicsr-noise train`` on ``opt`` (written as ``<work>/<name>.yml``) in ``work``; returns its seconds."""
    import subprocess
    import sys
    import time
    import yaml
    path = osp.join(work, f'{name}.yml')
    with open(path, 'w') as f:
        yaml.safe_dump(opt, f, sort_keys=False)
    start = time.time()
    subprocess.run([sys.executable, '-m', 'basicsr_noise', 'train', '-opt', path], cwd=work, check=True,
                   stdout=subprocess.DEVNULL)
    return round(time.time() - start, 1)


CAMSIM_DENOISER = {'type': 'R2RDnCNN', 'num_in_ch': 3, 'num_feat': 48, 'num_layers': 10}
# the CPU-sized PGap recipe of every camsim row (docs/benchmarks.md); the default recipe is DnCNN-17 for 20k
CAMSIM_PGAP_RECIPE = {'total_iter': 1500, 'batch_size': 16, 'patch_size': 48, 'num_worker': 1,
                      'network_g': CAMSIM_DENOISER}


def camsim_denoiser_options(name, camsim, iters):
    """The PGap CPU recipe as ``basicsr train`` options: the colour DnCNN (10 layers, 48 features) on the camsim
    real training pairs, 48x48 crops, batch 16, Adam 1e-3 x0.1 at 60 % and 90 % of ``iters``, MSE."""
    return {
        'name': name, 'model_type': 'SynthNoiseDenoiserModel', 'scale': 1, 'num_gpu': 0, 'manual_seed': 0,
        'datasets': {'train': {
            'name': 'train', 'type': 'NoisyImageDataset', 'dataroot_lq': osp.join(camsim, 'train', 'noisy'),
            'dataroot_gt': osp.join(camsim, 'train', 'clean'), 'io_backend': {'type': 'disk'}, 'gt_size': 48,
            'use_hflip': True, 'use_rot': True, 'num_worker_per_gpu': 1, 'batch_size_per_gpu': 16,
            'dataset_enlarge_ratio': 200, 'prefetch_mode': None}},
        'network_g': dict(CAMSIM_DENOISER),
        'path': {'pretrain_network_g': None, 'strict_load_g': True, 'resume_state': None},
        'train': {'ema_decay': 0, 'optim_g': {'type': 'Adam', 'lr': 1e-3, 'betas': [0.9, 0.999]},
                  'scheduler': {'type': 'MultiStepLR', 'milestones': [int(iters * 0.6), int(iters * 0.9)],
                                'gamma': 0.1},
                  'total_iter': iters, 'warmup_iter': -1,
                  'pixel_opt': {'type': 'MSELoss', 'loss_weight': 1.0, 'reduction': 'mean'}},
        'logger': {'print_freq': 100, 'save_checkpoint_freq': iters, 'use_tb_logger': False},
        'dist_params': {'backend': 'gloo', 'port': 29500},
    }


def camsim_noise_scores(camsim, fake, work, name):
    """AKLD, KS and the generated / real noise std of the generated test images ``fake`` against the camsim test
    split's real noisy tiles (``evaluate_noise``'s means; its report under ``<work>/eval/<name>``)."""
    from basicsr_noise.evaluation.eval_noise import evaluate_noise
    report = evaluate_noise(osp.join(camsim, 'test', 'clean'), osp.join(camsim, 'test', 'noisy'), fake,
                            osp.join(work, 'eval', name), figures=False)
    return {k: report['mean'][k] for k in ('akld', 'ks', 'fake_std', 'real_std')}


def camsim_pgap_options(name, camsim, noise_opt, recipe):
    """``basicsr-noise pgap`` options on the camsim benchmark's pairs, with ``noise_opt`` as the source."""
    pairs = {split: {'dataroot_lq': osp.join(camsim, split, 'noisy'), 'dataroot_gt': osp.join(camsim, split, 'clean')}
             for split in ('train', 'test')}
    return {'name': name, 'num_gpu': 0, 'manual_seed': 0,
            'pgap': {**pairs, 'source': {'type': 'noise_model', 'noise_opt': noise_opt}, 'recipe': recipe}}


def timed(step, iters, warmup=1):
    """Mean seconds of ``step()`` over ``iters`` calls after ``warmup`` calls."""
    for _ in range(warmup):
        step()
    start = time.perf_counter()
    for _ in range(iters):
        step()
    return (time.perf_counter() - start) / iters


def ridnet_training_step(batch, patch, iters):
    """Seconds of one training step of BasicSR's ``RIDNet(3, 64, 3)`` (forward, L1 backward, Adam) on a batch of
    ``batch`` ``patch``-sized images: the yardstick of on-the-fly generation costs."""
    from basicsr.archs.ridnet_arch import RIDNet
    torch.manual_seed(0)
    net = RIDNet(3, 64, 3)
    optimizer = torch.optim.Adam(net.parameters(), 1e-4)
    noisy, clean = (torch.rand(batch, 3, patch, patch, generator=torch.Generator().manual_seed(s)) for s in (0, 1))

    def step():
        optimizer.zero_grad(set_to_none=True)
        torch.nn.functional.l1_loss(net(noisy), clean).backward()
        optimizer.step()

    return timed(step, iters)


def speed_main(script, doc, sides, measure, setting, default_out):
    """The command line of a side-by-side speed benchmark: ``--side NAME`` prints one measurement
    (``measure(NAME, iters)`` seconds); without it every side runs in turns in fresh processes (the first is the
    reference of the ratios) and the results are saved with ``setting``."""
    import argparse
    parser = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--iters', type=int, default=3)
    parser.add_argument('--pairs', type=int, default=3)
    parser.add_argument('--side', choices=list(sides), help='(internal) one measurement')
    parser.add_argument('--out', default=default_out)
    args = parser.parse_args()
    if args.side:
        print(json.dumps({'seconds': measure(args.side, args.iters)}))
        return
    measured = side_by_side(script, tuple(sides), args.pairs, '--iters', args.iters)
    save_results({'setting': dict(setting, iters=args.iters, warmup=1, device='cpu', threads=torch.get_num_threads(),
                                  torch=torch.__version__), **measured}, args.out)
