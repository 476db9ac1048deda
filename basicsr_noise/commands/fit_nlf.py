"""``basicsr-noise fit-nlf``: a noise-level function (variance ``a * x + b`` per channel) fitted to image pairs."""
import torch
from os import path as osp

from basicsr_noise.noise import fit_nlf
from basicsr_noise.utils.errors import InputError
from basicsr_noise.utils.image_io import list_images, read_image

NAME = 'fit-nlf'
HELP = 'Fit a noise-level function (variance a*x+b per channel) to image pairs.'


def add_arguments(parser):
    parser.add_argument('--noisy', required=True, help='Folder of noisy images.')
    parser.add_argument('--clean', required=True, help='Folder of the clean images, with the same file names.')
    parser.add_argument('--bins', type=int, default=16, help='Intensity bins. Default: 16.')
    parser.add_argument('--min_count', type=int, default=200, help='Pixels a bin needs to count. Default: 200.')


def _rgb_tensor(img):
    return torch.from_numpy(img[..., ::-1] / 255.).permute(2, 0, 1).float()


def run(args):
    noisy, clean = [], []
    for path in list_images(args.noisy):
        clean_path = osp.join(args.clean, osp.basename(path))
        pair = [read_image(p) for p in (path, clean_path)]
        if pair[0].shape != pair[1].shape:
            raise InputError(f'{path} and {clean_path} differ in size.')
        noisy.append(_rgb_tensor(pair[0]))
        clean.append(_rgb_tensor(pair[1]))
    # images may differ in size: pool all pixels into one (1, C, 1, N) batch for a single fit
    pool = lambda imgs: torch.cat([img.reshape(img.shape[0], 1, -1) for img in imgs], -1)[None]  # noqa: E731
    a, b = fit_nlf(pool(noisy), pool(clean), num_bins=args.bins, min_count=args.min_count)
    fmt = lambda t: '[' + ', '.join(f'{v:.3e}' for v in t.tolist()) + ']'  # noqa: E731
    print(f'# variance = a * x + b per RGB channel, x in [0, 1]; from {len(noisy)} pairs in {args.noisy}')
    print(f'noise:\n  type: nlf\n  a: {fmt(a)}\n  b: {fmt(b)}')
    print(f'# noise std (0-255) at x = 0.5: {fmt(255 * (a * 0.5 + b).clamp_min(0).sqrt())}')
    return a, b
