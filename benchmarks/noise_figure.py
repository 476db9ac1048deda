"""A figure: one clean image through each noise model, with the noise residual and its local standard deviation.

Rows: noisy image, residual (noisy - clean, mid-grey = 0, x4), local standard deviation (7x7 window, x8).
The clean image is scikit-image's bundled ``astronaut`` (192x192 crop); fixed seed; written as JPEG (quality 90)
to keep the file small.

    python benchmarks/noise_figure.py --out docs/figures/noise_models.jpg
"""
import basicsr_noise  # noqa: F401  # isort: skip  (first: basicsr 1.4.2 needs its shims)
import argparse
import cv2
import numpy as np
import os
import torch
from os import path as osp
from skimage import data as skdata

from basicsr_noise.noise import build_noise

MODELS = [
    ('AWGN 25', {'type': 'AWGNNoise', 'sigma': 25}),
    ('Heterosc. a=.01 b=1e-4', {'type': 'HeteroscedasticGaussianNoise', 'a': 0.01, 'b': 1e-4}),
    ('Multivariate 50', {'type': 'MultivariateGaussianNoise', 'sigma': 50}),
    ('Poisson peak 20', {'type': 'PoissonNoise', 'peak': 20}),
    ('Camera GP ISO3200', {'type': 'CameraNoise', 'nlf': 'GP_03200'}),
    ('CRF (NTGAN)', {'type': 'CRFCameraNoise', 'sigma_s': 0.06, 'sigma_c': 0.03, 'patterns': ['RGGB']}),
    ('JPEG q30', {'type': 'JPEGNoise', 'quality': 30}),
]


def local_std(residual, window=7):
    mean = cv2.blur(residual, (window, window))
    return np.sqrt(np.maximum(cv2.blur(residual**2, (window, window)) - mean**2, 0))


def to_uint8(img):
    return np.clip(np.round(img * 255), 0, 255).astype(np.uint8)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--out', default='docs/figures/noise_models.jpg')
    args = parser.parse_args()
    clean = skdata.astronaut()[16:208, 160:352].astype(np.float32) / 255.
    x = torch.from_numpy(clean).permute(2, 0, 1)[None]
    columns = []
    for label, opt in [('clean', None)] + MODELS:
        noisy = clean if opt is None else build_noise(opt)(x, torch.Generator().manual_seed(0)).noisy[0]
        noisy = noisy if opt is None else noisy.permute(1, 2, 0).clamp(0, 1).numpy()
        residual = noisy - clean
        tiles = [to_uint8(noisy), to_uint8(0.5 + 4 * residual), to_uint8(8 * local_std(residual))]
        column = np.concatenate([np.pad(t, ((0, 4), (0, 4), (0, 0)), constant_values=255) for t in tiles], 0)
        header = np.full((24, column.shape[1], 3), 255, np.uint8)
        cv2.putText(header, label, (4, 17), cv2.FONT_HERSHEY_SIMPLEX, 0.42, (0, 0, 0), 1, cv2.LINE_AA)
        columns.append(np.concatenate([header, column], 0))
    figure = np.concatenate(columns, 1)
    os.makedirs(osp.dirname(osp.abspath(args.out)), exist_ok=True)
    cv2.imwrite(args.out, cv2.cvtColor(figure, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 90])
    print(f'Wrote {args.out} ({figure.shape[1]}x{figure.shape[0]}).')


if __name__ == '__main__':
    main()
