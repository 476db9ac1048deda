"""GPU benchmarks of the project, in one process, sized for the device budget (a few minutes on a GPU); every figure
is a ratio measured side by side in this run or an absolute time stated as one. ``--device cpu --tiny`` is the dry
run that ``tests/test_gpu_script.py`` runs, so that the script cannot rot.

* ``camera_noise``: ``CameraNoise`` eager and ``torch.compile``d, batch 16 and 64 of 256x256 (megapixels per second);
* ``train_steps``: one training iteration of R2R, DBSN, NTGAN and PNGAN through the model BasicSR's loop drives
  (``feed_data`` + ``optimize_parameters``, the shipped option files) against a bare step of the same generator
  (forward, MSE, backward, Adam), fp32 and with autocast (fp16 and its GradScaler on CUDA, bf16 on CPU);
* ``generator_noise``: a supervised denoiser step with its pairs made on the fly by ``GeneratorNoise`` (PNGAN's
  SMNet) against the same step on stored pairs;
* ``tiled_inference``: NTGAN's released network at noise level zero over a 12-megapixel image in 512 tiles:
  throughput and peak device memory.

    python benchmarks/gpu/gpu_checks.py --device cuda --out $OUT
"""
import basicsr_noise  # noqa: F401  # isort: skip  (first: basicsr 1.4.2 needs its shims)
import argparse
import copy
import json
import os
import statistics
import tempfile
import time
import torch
from basicsr.models import build_model
from os import path as osp

from basicsr_noise.archs.ntgan_arch import NTGANNet
from basicsr_noise.archs.pngan_arch import SMNet
from basicsr_noise.noise import CameraNoise, GeneratorNoise
from basicsr_noise.utils.options import load_options
from basicsr_noise.utils.tiling import tiled_forward

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
METHODS = {  # option file, channels, whether the batch carries the clean image
    'r2r': ('r2r/r2r_awgn.yml', 1, False),
    'dbsn': ('dbsn/dbsn_colour_hetero_mu.yml', 3, False),
    'ntgan': ('ntgan/ntgan.yml', 3, False),
    'pngan': ('pngan/pngan_sidd.yml', 3, True),
}


def sync(device):
    if device.type == 'cuda':
        torch.cuda.synchronize(device)


def timed(fn, device, repeats, warmup=2):
    """Median seconds of ``fn()`` over ``repeats`` calls after ``warmup`` calls."""
    for _ in range(warmup):
        fn()
    sync(device)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        sync(device)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def camera_noise(device, sizes, repeats):
    out = {}
    for batch, side in sizes:
        x = torch.rand(batch, 3, side, side, device=device)
        generator = torch.Generator(device=device).manual_seed(0)
        entry = {}
        for name, compiled in (('eager', False), ('compiled', True)):
            model = CameraNoise(compile=compiled)
            seconds = timed(lambda: model(x, generator), device, repeats)
            entry[f'{name}_mpix_per_s'] = batch * side * side / 1e6 / seconds
        entry['compiled_speedup'] = entry['compiled_mpix_per_s'] / entry['eager_mpix_per_s']
        out[f'batch{batch}_{side}'] = entry
    return out


def _model(method, device, work, tiny):
    path, channels, paired = METHODS[method]
    opt = load_options(osp.join(REPO, 'options', path))
    opt.update(num_gpu=1 if device.type == 'cuda' else 0, is_train=True, dist=False, rank=0, world_size=1)
    opt['path'].update(models=work, training_states=work, visualization=work)
    if method == 'ntgan':
        opt['ntgan']['noise_opt'].update(crf='gamma')  # no DoRF data on the device machine
    if method == 'pngan':
        dd_path = osp.join(work, 'dd.pth')
        dd = copy.deepcopy(opt['network_dd'])
        from basicsr.archs import build_network
        torch.save({'params': build_network(dd).state_dict()}, dd_path)
        opt['path']['pretrain_network_dd'] = dd_path
        opt['train']['perceptual_opt'] = None  # no VGG weights on the device machine
    if tiny:
        for key in [k for k in opt if k.startswith('network_') and 'num_feat' in opt[k]]:
            opt[key]['num_feat'] = 8
    train_set = opt['datasets']['train']
    batch, size = (2, 32) if tiny else (train_set['batch_size_per_gpu'], train_set.get('gt_size', 128))
    return opt, channels, paired, batch, size


def _bare_step(net, lq, gt):
    optimizer = torch.optim.Adam([p for p in net.parameters() if p.requires_grad], 1e-4)

    def step():
        optimizer.zero_grad(set_to_none=True)
        out = net(lq)
        out = out[0] if isinstance(out, tuple) else out  # D-BSN also returns its features
        torch.nn.functional.mse_loss(out, gt).backward()
        optimizer.step()

    return step


def train_steps(device, work, tiny, repeats):
    out = {}
    for method in METHODS:
        for amp in (False, True):
            opt, channels, paired, batch, size = _model(method, device, work, tiny)
            opt['train']['use_amp'] = amp
            torch.manual_seed(0)
            model = build_model(opt)
            lq = torch.rand(batch, channels, size, size, device=device)
            data = {'lq': lq, 'gt': lq.clone()} if paired else {'lq': lq}
            counter = iter(range(1, 10**6))

            def model_step():
                model.feed_data(data)
                model.optimize_parameters(next(counter))

            model_seconds = timed(model_step, device, repeats)
            bare = _bare_step(copy.deepcopy(model.get_bare_model(model.net_g)), lq, lq)
            bare_seconds = timed(bare, device, repeats)
            out[f'{method}_{"amp" if amp else "fp32"}'] = {
                'batch': batch, 'patch': size, 'model_step_s': model_seconds, 'bare_g_step_s': bare_seconds,
                'ratio': model_seconds / bare_seconds}
    return out


def generator_noise(device, work, tiny, repeats):
    smnet = {'type': 'SMNet', 'num_feat': 8 if tiny else 64}
    ckpt = osp.join(work, 'smnet.pth')
    torch.save({'params': SMNet(num_feat=smnet['num_feat']).state_dict(),
                'meta': {'network_g': smnet, 'input_noise': {'type': 'AWGNNoise', 'sigma': 50, 'clip': True}}}, ckpt)
    noise = GeneratorNoise(ckpt)
    batch, size = (2, 32) if tiny else (16, 128)
    clean = torch.rand(batch, 3, size, size, device=device)
    stored = noise(clean, torch.Generator(device=device).manual_seed(0)).noisy
    from basicsr_noise.archs.dncnn_arch import R2RDnCNN
    net = R2RDnCNN(num_in_ch=3, num_feat=8 if tiny else 64, num_layers=17).to(device)
    generator = torch.Generator(device=device).manual_seed(1)
    stored_step = _bare_step(net, stored, clean)
    fly = _bare_step(net, stored, clean)

    def on_the_fly():
        stored.copy_(noise(clean, generator).noisy)
        fly()

    stored_seconds = timed(stored_step, device, repeats)
    fly_seconds = timed(on_the_fly, device, repeats)
    return {'batch': batch, 'patch': size, 'stored_pairs_step_s': stored_seconds, 'on_the_fly_step_s': fly_seconds,
            'ratio': fly_seconds / stored_seconds}


def tiled_inference(device, tiny):
    h, w, tile = (96, 128, 64) if tiny else (3000, 4000, 512)
    net = NTGANNet(num_feat=8 if tiny else 64).to(device).eval()
    x = torch.rand(1, 3, h, w, device=device)
    if device.type == 'cuda':
        torch.cuda.reset_peak_memory_stats(device)
    with torch.no_grad():
        seconds = timed(lambda: tiled_forward(net.denoise, x, tile, 32), device, 1, warmup=1)
    peak = torch.cuda.max_memory_allocated(device) / 2**30 if device.type == 'cuda' else None
    return {'image': f'{w}x{h}', 'tile': tile, 'seconds': seconds, 'mpix_per_s': h * w / 1e6 / seconds,
            'peak_gpu_memory_gib': peak}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--device', default='cuda')
    parser.add_argument('--tiny', action='store_true', help='Tiny sizes (the CPU dry run).')
    parser.add_argument('--out', required=True, help='Folder of gpu_benchmarks.json.')
    args = parser.parse_args()
    device = torch.device(args.device)
    repeats = 2 if args.tiny else 10
    results = {'device': torch.cuda.get_device_name(device) if device.type == 'cuda' else 'cpu',
               'torch': torch.__version__, 'tiny': args.tiny}
    with tempfile.TemporaryDirectory() as work:
        sections = (
            ('camera_noise', lambda: camera_noise(device, [(2, 32)] if args.tiny else [(16, 256), (64, 256)],
                                                  repeats)),
            ('train_steps', lambda: train_steps(device, work, args.tiny, repeats)),
            ('generator_noise', lambda: generator_noise(device, work, args.tiny, repeats)),
            ('tiled_inference', lambda: tiled_inference(device, args.tiny)),
        )
        for name, run in sections:
            start = time.time()
            results[name] = run()
            print(f'{name}: {json.dumps(results[name])} ({time.time() - start:.0f} s)', flush=True)
    os.makedirs(args.out, exist_ok=True)
    with open(osp.join(args.out, 'gpu_benchmarks.json'), 'w') as f:
        json.dump(results, f, indent=2)


if __name__ == '__main__':
    main()
