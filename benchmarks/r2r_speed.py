"""Speed: R2R training through BasicSR's loop vs a bare PyTorch loop, and ``infer`` throughput.

Training: the same DnCNN, optimizer and batch in both. The BasicSR run is ``basicsr train`` (in this process)
on a dataset that returns in-memory patches, so that decoding does not blur the framework's own overhead; its
time per iteration is the wall time between BasicSR's "Start training" and "End of training" log lines divided
by the iterations. The bare loop draws the same recorruption, runs forward, MSE, backward and Adam's step.

Inference: ``basicsr-noise infer``'s code path (``NetworkDenoiser``) on a 1024x1024 colour image, whole and tiled.

    python benchmarks/r2r_speed.py --out docs/results/r2r_speed.json
"""
import basicsr_noise  # noqa: F401  # isort: skip  (first: basicsr 1.4.2 needs its shims)
import argparse
import os
import sys
import tempfile
import time
import torch
import yaml
from benchmark_io import basicsr_seconds_per_iter, save_results
from os import path as osp

from basicsr_noise.archs.dncnn_arch import R2RDnCNN
from basicsr_noise.cli import main as cli_main
from basicsr_noise.models.r2r_model import recorrupt
from basicsr_noise.utils.denoiser import NetworkDenoiser

NET = {'type': 'R2RDnCNN', 'num_in_ch': 3, 'num_feat': 64, 'num_layers': 20, 'first_bias': True, 'bn_eps': 1e-4}


def basicsr_loop(iters, batch, patch, work):
    opt = {
        'name': 'speed', 'model_type': 'R2RModel', 'scale': 1, 'num_gpu': 0, 'manual_seed': 0,
        'r2r': {'alpha': 2.0, 'noise': {'type': 'awgn', 'sigma': 25}},
        'datasets': {'train': {'name': 'mem', 'type': 'InMemoryPatchBenchmarkDataset', 'num_patches': batch * iters,
                               'gt_size': patch, 'num_worker_per_gpu': 0, 'batch_size_per_gpu': batch,
                               'dataset_enlarge_ratio': 1, 'prefetch_mode': None}},
        'network_g': NET, 'path': {'pretrain_network_g': None, 'strict_load_g': True, 'resume_state': None},
        'train': {'ema_decay': 0, 'optim_g': {'type': 'Adam', 'lr': 2e-4},
                  'scheduler': {'type': 'MultiStepLR', 'milestones': [10**8], 'gamma': 1.0}, 'total_iter': iters,
                  'warmup_iter': -1, 'pixel_opt': {'type': 'MSELoss', 'loss_weight': 1.0, 'reduction': 'mean'}},
        'logger': {'print_freq': 10**8, 'save_checkpoint_freq': 10**8, 'use_tb_logger': False},
    }
    opt_path = osp.join(work, 'speed.yml')
    with open(opt_path, 'w') as f:
        yaml.safe_dump(opt, f)
    cwd = os.getcwd()
    os.chdir(work)
    try:
        cli_main(['train', '-opt', opt_path])
    finally:
        os.chdir(cwd)
    return basicsr_seconds_per_iter(work, 'speed', iters)


def bare_loop(iters, batch, patch):
    torch.manual_seed(0)
    net = R2RDnCNN(**{k: v for k, v in NET.items() if k != 'type'})
    optimizer = torch.optim.Adam(net.parameters(), 2e-4)
    patches = torch.rand(batch * iters, 3, patch, patch, generator=torch.Generator().manual_seed(0))
    generator = torch.Generator().manual_seed(0)
    start = time.perf_counter()
    for i in range(iters):
        y = patches[i * batch:(i + 1) * batch]
        inp, target = recorrupt(y, torch.tensor(25 / 255.), 2.0, generator)
        optimizer.zero_grad(set_to_none=True)
        loss = torch.nn.functional.mse_loss(net(inp), target)
        loss.backward()
        optimizer.step()
    return (time.perf_counter() - start) / iters


def infer_throughput(size, tile, work, repeats=3):
    net = R2RDnCNN(**{k: v for k, v in NET.items() if k != 'type'})
    ckpt = osp.join(work, 'net.pth')
    torch.save({'params': net.state_dict(), 'meta': {'network_g': NET}}, ckpt)
    denoiser = NetworkDenoiser(ckpt, torch.device('cpu'), tile=tile, tile_overlap=32)
    x = torch.rand(1, 3, size, size)
    denoiser(x[..., :64, :64])  # warm-up
    start = time.perf_counter()
    for _ in range(repeats):
        denoiser(x)
    return size * size / 1e6 / ((time.perf_counter() - start) / repeats)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--iters', type=int, default=60)
    parser.add_argument('--batch', type=int, default=8)
    parser.add_argument('--patch', type=int, default=64)
    parser.add_argument('--out', default='docs/results/r2r_speed.json')
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as work:
        bare = [bare_loop(args.iters, args.batch, args.patch) for _ in range(2)]
        loop = [basicsr_loop(args.iters, args.batch, args.patch, work)]
        bare.append(bare_loop(args.iters, args.batch, args.patch))  # bare runs before and after, against drift
        infer = {f'tile_{t}': infer_throughput(1024, t, work) for t in (None, 512)}
    results = {
        'setting': {'arch': 'DnCNN-20 colour', 'batch': args.batch, 'patch': args.patch, 'iters': args.iters,
                    'device': 'cpu', 'threads': torch.get_num_threads(), 'torch': torch.__version__,
                    'python': sys.version.split()[0]},
        'bare_s_per_iter': min(bare), 'bare_runs': bare,
        'basicsr_s_per_iter': loop[0],
        'overhead_percent': 100 * (loop[0] / min(bare) - 1),
        'infer_megapixels_per_s': infer,
    }
    save_results(results, args.out)


if __name__ == '__main__':
    main()
