"""Camera-noise throughput: batched torch (``CameraNoise``) vs a per-image NumPy path with ``colour_demosaicing``.

The NumPy path runs the same steps image by image, as the NTGAN / CBDNet ports do in their DataLoader workers:
inverse tone and gamma, colour matrix, inverse gains, ``mosaicing_CFA_Bayer``, shot/read noise,
``demosaicing_CFA_Bayer_bilinear``, gains, inverse colour matrix, gamma and tone. Both process a batch of 16
128x128 images; throughput in megapixels per second (best of ``--repeats``).

    python benchmarks/noise_speed.py --out docs/results/noise_speed.json [--device cuda] [--compile]

``--compile`` also times ``torch.compile(CameraNoise.sample)`` (same random draws; compiled once, not timed).
"""
import basicsr_noise  # noqa: F401  # isort: skip  (first: basicsr 1.4.2 needs its shims)
import argparse
import colour_demosaicing
import numpy as np
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


def timed(fn, repeats):
    best = float('inf')
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--batch', type=int, default=16)
    parser.add_argument('--size', type=int, default=128)
    parser.add_argument('--repeats', type=int, default=5)
    parser.add_argument('--device', default='cpu')
    parser.add_argument('--compile', action='store_true', help='Also time torch.compile(CameraNoise.sample).')
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

    run_torch()  # warm-up
    torch_s = timed(run_torch, args.repeats)
    compiled_s = None
    if args.compile:
        sample = torch.compile(model.sample, dynamic=False)

        def run_compiled():
            sample(x_dev, gen)
            sync()

        run_compiled()  # compilation
        compiled_s = timed(run_compiled, args.repeats)

    imgs = x.permute(0, 2, 3, 1).double().numpy()
    params = {k: v.numpy() for k, v in random_isp_params(args.batch, g).items()}
    shot, read = (v.numpy() for v in sample_brooks_shot_read(args.batch, g, 'cpu'))
    rng = np.random.default_rng(0)

    def run_numpy():
        for i in range(args.batch):
            numpy_camera_noise(imgs[i], {k: v[i] for k, v in params.items()}, shot[i], read[i], rng)

    numpy_s = timed(run_numpy, args.repeats)
    results = {
        'setting': {'batch': args.batch, 'size': args.size, 'device': str(device), 'threads': torch.get_num_threads(),
                    'torch': torch.__version__},
        'torch_batched_mpix_per_s': megapixels / torch_s,
        'numpy_per_image_mpix_per_s': megapixels / numpy_s,
        'speedup': numpy_s / torch_s,
    }
    if compiled_s is not None:
        results.update(torch_compiled_mpix_per_s=megapixels / compiled_s, compiled_speedup=numpy_s / compiled_s)
    save_results(results, args.out)


if __name__ == '__main__':
    main()
