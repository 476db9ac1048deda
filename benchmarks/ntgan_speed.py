"""Speed: one NTGAN training iteration (simulator draws, G step, D step, EMA) through BasicSR's loop vs a bare
PyTorch loop doing the same steps.

Each side runs in a fresh process (BasicSR's logger and registries are process-global), in turns: bare, BasicSR,
bare, BasicSR, ... The BasicSR side is ``basicsr train`` (``NTGANModel``, in-memory patches so that decoding does not
blur the framework's own cost), timed between its "Start training" and "End of training" log lines; the bare side
draws the same simulator noises, runs the same networks, losses and Adam steps and the EMA, timed around the loop.
The figure is the median over the pairs of BasicSR / bare, with its range.

    python benchmarks/ntgan_speed.py --pairs 4 --out docs/results/ntgan_speed.json
"""
import basicsr_noise  # noqa: F401  # isort: skip  (first: basicsr 1.4.2 needs its shims)
import argparse
import copy
import json
import os
import tempfile
import time
import torch
import yaml
from benchmark_io import basicsr_seconds_per_iter, save_results, side_by_side
from os import path as osp
from torch.nn import functional as F

from basicsr_noise.archs.ntgan_arch import NTGANDiscriminator, NTGANNet
from basicsr_noise.cli import main as cli_main
from basicsr_noise.noise import build_noise

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
SIMULATOR = {'type': 'CRFCameraNoise', 'sigma_s': [0, 25 / 255.], 'sigma_c': [0, 25 / 255.], 'crf': 'gamma'}
WIDTH, BATCH, PATCH, GAN_WEIGHT, EMA = 32, 8, 64, 1e-3, 0.999


def basicsr_side(iters, work):
    from basicsr_noise.utils.options import load_options
    shipped = load_options(osp.join(REPO, 'options', 'ntgan', 'ntgan.yml'))
    train = copy.deepcopy(shipped['train'])
    train.update(total_iter=iters, scheduler={'type': 'MultiStepLR', 'milestones': [10**8], 'gamma': 1.0})
    opt = {
        'name': 'speed', 'model_type': 'NTGANModel', 'scale': 1, 'num_gpu': 0, 'manual_seed': 0,
        'ntgan': dict(shipped['ntgan'], noise_opt=SIMULATOR),
        'datasets': {'train': {'name': 'mem', 'type': 'InMemoryPatchBenchmarkDataset', 'num_patches': BATCH * iters,
                               'gt_size': PATCH, 'num_worker_per_gpu': 0, 'batch_size_per_gpu': BATCH,
                               'dataset_enlarge_ratio': 1, 'prefetch_mode': None}},
        'network_g': dict(shipped['network_g'], num_feat=WIDTH), 'network_d': dict(shipped['network_d'],
                                                                                   num_feat=WIDTH),
        'path': {'pretrain_network_g': None, 'strict_load_g': True, 'resume_state': None},
        'train': train,
        'logger': {'print_freq': 10**8, 'save_checkpoint_freq': 10**8, 'use_tb_logger': False},
    }
    assert train['ema_decay'] == EMA and train['gan_opt']['loss_weight'] == GAN_WEIGHT, 'the recipe changed'
    opt_path = osp.join(work, 'speed.yml')
    with open(opt_path, 'w') as f:
        yaml.safe_dump(opt, f)
    os.chdir(work)
    cli_main(['train', '-opt', opt_path])
    return basicsr_seconds_per_iter(work, 'speed', iters)


def bare_side(iters):
    torch.manual_seed(0)
    net_g, net_d = NTGANNet(num_feat=WIDTH), NTGANDiscriminator(6, WIDTH)
    net_ema = copy.deepcopy(net_g).eval()
    opt_g = torch.optim.Adam([p for p in net_g.parameters() if p.requires_grad], 2e-4, betas=(0.9, 0.99))
    opt_d = torch.optim.Adam(net_d.parameters(), 2e-4, betas=(0.9, 0.99))
    noise, generator = build_noise(SIMULATOR), torch.Generator().manual_seed(0)
    patches = torch.rand(BATCH * iters, 3, PATCH, PATCH, generator=torch.Generator().manual_seed(0))

    def simulate(image):
        sample = noise(image, generator)
        return sample.noisy - image, sample.std

    start = time.perf_counter()
    for i in range(iters):
        o = patches[i * BATCH:(i + 1) * BATCH]
        with torch.no_grad():
            n1, _ = simulate(o)
            n2, level = simulate(o)
            keep = (torch.rand((BATCH, 1, 1, 1), generator=generator) >= 0.5).float()
            x, level, real, target = o + n1, level * keep, o + n2 * keep, o - n1
        z_noise = level * torch.randn(level.shape, generator=generator)
        output = net_g(x, noise=z_noise)
        structure = output - z_noise
        with torch.no_grad():
            ambient, _ = simulate(structure.detach().clamp(0, 1))
        fake = output + ambient
        for p in net_d.parameters():
            p.requires_grad_(False)
        opt_g.zero_grad(set_to_none=True)
        fake_score = net_d(torch.cat([fake, level], 1))
        loss_g = F.mse_loss(structure, target) + GAN_WEIGHT * F.mse_loss(fake_score, torch.ones_like(fake_score))
        loss_g.backward()
        opt_g.step()
        for p in net_d.parameters():
            p.requires_grad_(True)
        opt_d.zero_grad(set_to_none=True)
        real_score, fake_score = net_d(torch.cat([real, level], 1)), net_d(torch.cat([fake.detach(), level], 1))
        loss_d = (F.mse_loss(real_score, torch.ones_like(real_score)) +
                  F.mse_loss(fake_score, torch.zeros_like(fake_score))) / 2
        loss_d.backward()
        opt_d.step()
        with torch.no_grad():
            for p_ema, p in zip(net_ema.parameters(), net_g.parameters()):
                p_ema.mul_(EMA).add_(p, alpha=1 - EMA)
    return (time.perf_counter() - start) / iters


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--iters', type=int, default=30)
    parser.add_argument('--pairs', type=int, default=4)
    parser.add_argument('--side', choices=['bare', 'basicsr'], help='(internal) one measurement, printed as JSON')
    parser.add_argument('--out', default='docs/results/ntgan_speed.json')
    args = parser.parse_args()
    if args.side:
        with tempfile.TemporaryDirectory() as work:
            seconds = bare_side(args.iters) if args.side == 'bare' else basicsr_side(args.iters, work)
        print(json.dumps({'seconds': seconds}))
        return
    measured = side_by_side(__file__, ('bare', 'basicsr'), args.pairs, '--iters', args.iters)
    save_results({
        'setting': {'arch': f'NTGANNet {WIDTH} features + NTGANDiscriminator {WIDTH}', 'batch': BATCH, 'patch': PATCH,
                    'iters': args.iters, 'simulator': SIMULATOR, 'device': 'cpu', 'threads': torch.get_num_threads(),
                    'torch': torch.__version__, 'unit': 'seconds per iteration'},
        **measured, 'median_overhead_percent': 100 * (measured['median_ratio'] - 1),
    }, args.out)


if __name__ == '__main__':
    main()
