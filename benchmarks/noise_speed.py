"""Camera-noise throughput: batched torch (``CameraNoise``) vs a per-image NumPy path with ``colour_demosaicing``.

The NumPy path runs the same steps image by image, as the NTGAN / CBDNet ports do in their DataLoader workers:
inverse tone and gamma, colour matrix, inverse gains, ``mosaicing_CFA_Bayer``, shot/read noise,
``demosaicing_CFA_Bayer_bilinear``, gains, inverse colour matrix, gamma and tone. Both process a batch of 16
128x128 images; throughput in megapixels per second, the median over ``--rounds`` x ``--block`` timed calls with
the range. The implementations take turns in blocks of calls, each block after one untimed call, so that a shared
machine's drift in speed reaches all of them alike (one call at a time, a turn would leave the next call with the
last one's freed memory and spinning OpenMP threads).

The floor is the time of the work no implementation of the pipeline avoids: ``asin``, ``sin`` and ``x^2.2`` on
every pixel and channel (inverse tone and gamma), ``x^(1/2.2)`` (gamma), each power as ``exp(p log x)``, and one
normal draw per raw pixel, as separate torch operations; it bounds what an eager torch implementation can reach
on this machine.

    python benchmarks/noise_speed.py --out docs/results/noise_speed.json [--device cuda] [--compile]

``--compile`` also times ``CameraNoise(compile=True)``, the whole model with the pipeline compiled into one fused
loop (compiled at the warm-up call, not timed; the random draws stay eager).
"""
import basicsr_noise  # noqa: F401  # isort: skip  (first: basicsr 1.4.2 needs its shims)
import argparse
import colour_demosaicing
import numpy as np
import os
import statistics
import time
import torch
from benchmark_io import save_results

from basicsr_noise.noise import CameraNoise
from basicsr_noise.noise.isp import HIGHLIGHT_KNEE, random_isp_params
from basicsr_noise.noise.poisson import sample_brooks_shot_read


def numpy_camera_noise(img, params, shot, read, rng):
    """One HWC float64 image through the camera pipeline with NumPy and colour_demosaicing."""
    x = 0.5 - np.sin(np.arcsin(1.0 - 2.0 * np.clip(img, 0, 1)) / 3.0)
    x = np.maximum(x, 1e-8)**2.2
    x = x @ params['rgb2cam'].T
    gains = np.array([params['red_gain'], 1.0, params['blue_gain']]) * params['rgb_gain']
    grey = x.mean(-1, keepdims=True)
    mask = (np.maximum(grey - HIGHLIGHT_KNEE, 0) / (1 - HIGHLIGHT_KNEE))**2
    x = np.clip(x * np.maximum(mask + (1 - mask) / gains, 1 / gains), 0, 1)
    raw = colour_demosaicing.mosaicing_CFA_Bayer(x, 'RGGB')
    raw = np.clip(raw + np.sqrt(shot * raw + read) * rng.standard_normal(raw.shape), 0, 1)
    rgb = colour_demosaicing.demosaicing_CFA_Bayer_bilinear(raw, 'RGGB')
    rgb = np.clip(np.clip(rgb * gains, 0, 1) @ np.linalg.inv(params['rgb2cam']).T, 0, 1)
    rgb = np.maximum(rgb, 1e-8)**(1 / 2.2)
    return 3 * rgb**2 - 2 * rgb**3


def timed_in_turns(runs, rounds, block):
    """Seconds of each call of each run: ``rounds`` turns of ``block`` timed calls, each turn after a warm-up call
    (the first also compiles)."""
    seconds = {name: [] for name in runs}
    for _ in range(rounds):
        for name, fn in runs.items():
            fn()
            for _ in range(block):
                start = time.perf_counter()
                fn()
                seconds[name].append(time.perf_counter() - start)
    return seconds


def summary(seconds, megapixels):
    """Median throughput and its range over the timed calls, in megapixels per second."""
    rates = sorted(megapixels / s for s in seconds)
    return {'median': statistics.median(rates), 'min': rates[0], 'max': rates[-1]}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--batch', type=int, default=16)
    parser.add_argument('--size', type=int, default=128)
    parser.add_argument('--rounds', type=int, default=6)
    parser.add_argument('--block', type=int, default=5, help='Timed calls per turn.')
    parser.add_argument('--device', default='cpu')
    parser.add_argument('--compile', action='store_true', help='Also time CameraNoise(compile=True).')
    parser.add_argument('--out', default='docs/results/noise_speed.json')
    args = parser.parse_args()
    device = torch.device(args.device)
    g = torch.Generator().manual_seed(0)
    x = torch.rand(args.batch, 3, args.size, args.size, generator=g)
    megapixels = args.batch * args.size * args.size / 1e6

    model = CameraNoise()
    gen = torch.Generator(device=device).manual_seed(0)
    x_dev = x.to(device)
    sync = torch.cuda.synchronize if device.type == 'cuda' else (lambda: None)

    def run_torch():
        model(x_dev, gen)
        sync()

    def run_floor():
        x_dev.asin().sin_()
        x_dev.log().mul_(2.2).exp_()
        x_dev.log().mul_(1 / 2.2).exp_()
        torch.randn((args.batch, 1, args.size, args.size), generator=gen, device=device)
        sync()

    runs = {'torch_batched': run_torch, 'floor': run_floor}
    if args.compile:
        import torch._inductor.config as inductor_config
        inductor_config.compile_threads = 1  # no idle compile workers beside the timed code
        compiled_model = CameraNoise(compile=True)

        def run_compiled():
            compiled_model(x_dev, gen)
            sync()

        runs['torch_compiled'] = run_compiled

    imgs = x.permute(0, 2, 3, 1).double().numpy()
    np_params = {k: v.numpy() for k, v in random_isp_params(args.batch, g).items()}
    np_shot, np_read = (v.numpy() for v in sample_brooks_shot_read(args.batch, g, 'cpu'))
    rng = np.random.default_rng(0)

    def run_numpy():
        for i in range(args.batch):
            numpy_camera_noise(imgs[i], {k: v[i] for k, v in np_params.items()}, np_shot[i], np_read[i], rng)

    runs = {'numpy_per_image': run_numpy, **runs}
    seconds = timed_in_turns(runs, args.rounds, args.block)

    numpy_median = statistics.median(seconds['numpy_per_image'])
    results = {
        'setting': {
            'batch': args.batch,
            'size': args.size,
            'device': str(device),
            'threads': torch.get_num_threads(),
            'rounds': args.rounds,
            'block': args.block,
            'torch': torch.__version__,
            'glibc_tunables': os.environ.get('GLIBC_TUNABLES', ''),
        },
        'mpix_per_s': {
            name: summary(s, megapixels)
            for name, s in seconds.items()
        },
        'speedup_vs_numpy': {
            name: numpy_median / statistics.median(s)
            for name, s in seconds.items() if name != 'numpy_per_image'
        },
    }
    save_results(results, args.out)


if __name__ == '__main__':
    main()
