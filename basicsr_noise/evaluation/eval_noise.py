"""``basicsr-noise eval-noise``: how close generated noise is to real noise, image by image, with figures.

Given folders of clean, real noisy and generated noisy images matched by file stem, it reports AKLD and KS
(:mod:`basicsr_noise.metrics.noise_metrics`) and the mean and standard deviation of both noise fields (0-255
scale) per image and overall, writes them to ``eval_noise.json``, and draws one panel per image: clean, real and
generated images; the real and generated noise residuals at the same contrast; their local standard deviation
maps (the 7x7 AKLD window) on one colour scale; and both noise histograms.
"""
import cv2
import json
import numpy as np
import os
from os import path as osp
from tqdm import tqdm

from basicsr_noise.metrics.noise_metrics import akld_window, calculate_akld, calculate_ks
from basicsr_noise.utils.errors import InputError
from basicsr_noise.utils.image_io import is_image_file, read_image, write_image

PANEL_CROP = 256  # noise grain is invisible once an image is scaled down: panels show a centre crop instead
REAL_COLOUR, FAKE_COLOUR = (60, 160, 40), (200, 40, 200)  # BGR


def _images(folder, what):
    if not osp.isdir(folder):
        raise FileNotFoundError(f'{what} folder {folder} does not exist.')
    files = {osp.splitext(f)[0]: osp.join(folder, f) for f in sorted(os.listdir(folder)) if is_image_file(f)}
    if not files:
        raise InputError(f'{what} folder {folder} holds no images.')
    return files


def match_folders(clean, real, fake):
    """``[(stem, clean_path, real_path, fake_path)]`` for the stems of ``fake``; every one must exist in all three."""
    clean, real, fake = _images(clean, 'clean'), _images(real, 'real noisy'), _images(fake, 'generated noisy')
    missing = [s for s in fake if s not in clean or s not in real]
    if missing:
        raise InputError(f'No clean or real noisy image with the names of these generated images: {missing[:5]}'
                         f'{" ..." if len(missing) > 5 else ""}')
    return [(stem, clean[stem], real[stem], fake[stem]) for stem in fake]


def _read(path, shape=None):
    img = read_image(path)
    if shape is not None and img.shape != shape:
        raise InputError(f'{path} is {img.shape}, its clean image {shape}.')
    return img


def noise_stats(noisy, clean):
    noise = noisy.astype(np.float64) - clean.astype(np.float64)
    return {'mean': float(noise.mean()), 'std': float(noise.std())}


# ----------------------------------------------------------------------------------------------- figures
def _label(img, text):
    img = img.copy()
    cv2.rectangle(img, (0, 0), (img.shape[1], 18), (255, 255, 255), -1)
    cv2.putText(img, text, (4, 13), cv2.FONT_HERSHEY_SIMPLEX, 0.42, (0, 0, 0), 1, cv2.LINE_AA)
    return img


def _local_std(noisy, clean):
    err = (noisy.astype(np.float64) - clean.astype(np.float64))**2
    local = cv2.filter2D(err, cv2.CV_64F, akld_window(), borderType=cv2.BORDER_REFLECT_101)
    return np.sqrt(local.mean(2))


def _histogram_plot(noise_real, noise_fake, size):
    h, w = size
    canvas = np.full((h, w, 3), 255, np.uint8)
    limit = int(np.ceil(max(4 * noise_real.std(), 4 * noise_fake.std(), 2.)))
    width = max(1, round(2 * limit / 64))  # whole grey levels per bin: no aliasing of integer-valued noise
    edges = np.arange(-limit - 0.5, limit + 0.5 + width, width)
    hists = [np.histogram(n, edges)[0] / n.size for n in (noise_real, noise_fake)]
    top = max(hist.max() for hist in hists) or 1
    xs = np.linspace(8, w - 8, len(edges) - 1)
    for hist, colour in zip(hists, (REAL_COLOUR, FAKE_COLOUR)):
        ys = h - 20 - hist / top * (h - 50)
        cv2.polylines(canvas, [np.stack([xs, ys], 1).round().astype(np.int32)], False, colour, 2, cv2.LINE_AA)
    cv2.line(canvas, (8, h - 20), (w - 8, h - 20), (0, 0, 0), 1)
    cv2.line(canvas, (w // 2, h - 24), (w // 2, h - 16), (0, 0, 0), 1)
    cv2.putText(canvas, f'-{limit:.0f}', (4, h - 5), cv2.FONT_HERSHEY_SIMPLEX, 0.38, (0, 0, 0), 1, cv2.LINE_AA)
    cv2.putText(canvas, f'+{limit:.0f}', (w - 34, h - 5), cv2.FONT_HERSHEY_SIMPLEX, 0.38, (0, 0, 0), 1, cv2.LINE_AA)
    cv2.putText(canvas, 'real', (10, 34), cv2.FONT_HERSHEY_SIMPLEX, 0.42, REAL_COLOUR, 1, cv2.LINE_AA)
    cv2.putText(canvas, 'generated', (10, 50), cv2.FONT_HERSHEY_SIMPLEX, 0.42, FAKE_COLOUR, 1, cv2.LINE_AA)
    return canvas


def _centre(img, size=PANEL_CROP):
    h, w = img.shape[:2]
    top, left = max((h - size) // 2, 0), max((w - size) // 2, 0)
    return img[top:top + size, left:left + size]


def noise_panel(clean, real, fake, scores):
    """One figure (BGR uint8): images, residuals, local std maps and histograms of a clean/real/generated triple."""
    clean, real, fake = (_centre(img) for img in (clean, real, fake))
    noise_real = real.astype(np.float64) - clean
    noise_fake = fake.astype(np.float64) - clean
    gain = 127 / max(3 * noise_real.std(), 1.)
    residual = [np.clip(128 + gain * n, 0, 255).astype(np.uint8) for n in (noise_real, noise_fake)]
    stds = [_local_std(n, clean) for n in (real, fake)]
    top = max(max(s.max() for s in stds), 1e-6)
    maps = [cv2.applyColorMap((s / top * 255).astype(np.uint8), cv2.COLORMAP_VIRIDIS) for s in stds]
    hist = _histogram_plot(noise_real, noise_fake, clean.shape[:2])
    row1 = [
        _label(clean, 'clean'),
        _label(real, 'real noisy'),
        _label(fake, 'generated noisy'),
        _label(hist, f'noise histograms  KS {scores["ks"]:.3f}')
    ]
    row2 = [
        _label(residual[0], f'real noise x{gain:.1f}'),
        _label(residual[1], f'generated noise x{gain:.1f}'),
        _label(maps[0], f'real local std (max {top:.1f})'),
        _label(maps[1], f'generated local std  AKLD {scores["akld"]:.3f}')
    ]
    gap = np.full((clean.shape[0], 4, 3), 255, np.uint8)
    rows = [np.concatenate(sum([[tile, gap] for tile in row], [])[:-1], 1) for row in (row1, row2)]
    return np.concatenate([rows[0], np.full((4, rows[0].shape[1], 3), 255, np.uint8), rows[1]], 0)


# ----------------------------------------------------------------------------------------------- command
def evaluate_noise(clean_dir, real_dir, fake_dir, output=None, figures=True):
    """Score every generated image; returns ``{'images': {stem: {...}}, 'mean': {...}}`` (and writes it)."""
    rows = {}
    for stem, clean_path, real_path, fake_path in tqdm(
            match_folders(clean_dir, real_dir, fake_dir), unit='image', desc='eval-noise'):
        clean = _read(clean_path)
        real, fake = _read(real_path, clean.shape), _read(fake_path, clean.shape)
        scores = {'akld': calculate_akld(fake, real, clean), 'ks': calculate_ks(fake, real, clean)}
        real_stats, fake_stats = noise_stats(real, clean), noise_stats(fake, clean)
        scores.update(
            real_mean=real_stats['mean'],
            real_std=real_stats['std'],
            fake_mean=fake_stats['mean'],
            fake_std=fake_stats['std'])
        rows[stem] = scores
        if output and figures:
            write_image(osp.join(output, 'figures', f'{stem}.png'), noise_panel(clean, real, fake, scores))
    mean = {key: float(np.mean([r[key] for r in rows.values()])) for key in next(iter(rows.values()))}
    report = {'clean': clean_dir, 'real': real_dir, 'generated': fake_dir, 'images': rows, 'mean': mean}
    if output:
        os.makedirs(output, exist_ok=True)
        with open(osp.join(output, 'eval_noise.json'), 'w') as f:
            json.dump(report, f, indent=2)
    return report


def format_table(report):
    header = f'{"image":<28}{"AKLD":>8}{"KS":>8}{"real std":>10}{"gen std":>10}{"real mean":>11}{"gen mean":>10}'
    lines = [header, '-' * len(header)]
    for name, r in list(report['images'].items()) + [('mean', report['mean'])]:
        if name == 'mean':
            lines.append('-' * len(header))
        lines.append(f'{name[:27]:<28}{r["akld"]:8.4f}{r["ks"]:8.4f}{r["real_std"]:10.2f}{r["fake_std"]:10.2f}'
                     f'{r["real_mean"]:11.2f}{r["fake_mean"]:10.2f}')
    return '\n'.join(lines)
