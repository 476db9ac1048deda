"""The simulated camera benchmark (``basicsr-noise prepare camsim``): real-like sRGB noise with a known truth.

Clean images bundled with scikit-image (never the download-backed ones) are resized to at most 512 pixels, cut
into 128x128 tiles and passed through :class:`~basicsr_noise.noise.camera.CameraNoise` (Brooks et al.'s
unprocessing, Bayer mosaic, SIDD heteroscedastic raw noise of a named camera/ISO, demosaicing, processing) with a
fixed seed per tile; the camera/ISO settings take turns over the tiles, as SIDD mixes phones. Output::

    <output>/train/clean, train/noisy     paired training tiles (even tiles of the training images)
    <output>/train_noisy_only             noisy training tiles without clean versions (odd tiles)
    <output>/val/clean, val/noisy         with ``val_images``: every tile of those training images, paired
    <output>/test/clean, test/noisy       test tiles of disjoint images
    <output>/camsim.json                  the recipe, the true noise model and every tile's exact parameters

Noisy tiles are rounded to uint8 like stored photos. The same torch version gives the same bytes.

Two options make a testbed where more learning can show, without touching the default's bytes: ``train_stride``
below the tile size adds overlapping crops of the training images to ``train`` (paired, each with its own noise
draw, seeded apart from the grid's), and ``val_images`` holds some training images out as a validation split. The
grid tiles keep their seeds and settings whatever the options, so the test split is the same in every variant.
"""
import cv2
import json
import numpy as np
import torch
from os import path as osp
from tqdm import tqdm

from basicsr_noise.data.bundled_images import TEST_IMAGES, TRAIN_IMAGES, bundled_image
from basicsr_noise.noise import build_noise
from basicsr_noise.noise.bayer import PATTERNS
from basicsr_noise.utils.atomic import AtomicOutput
from basicsr_noise.utils.image_io import write_image

CAMSIM_VERSION = 1
CAMSIM_SETTINGS = ('GP_01600', 'S6_00800', 'N6_01600')  # SIDD phone/ISO noise-level functions
CAMSIM_TRAIN, CAMSIM_TEST = TRAIN_IMAGES, TEST_IMAGES
TILE, SEED = 128, 2026
EXTRA_SEED_OFFSET = 1_000_000  # seeds of the overlapping crops start here, apart from the grid tiles'


def camsim_noise_opt(settings=CAMSIM_SETTINGS):
    """The true noise model of the benchmark, as a ``noise_opt`` (one of the settings drawn per image)."""
    return {'type': 'CameraNoise', 'nlf': list(settings), 'pattern': 'RGGB', 'demosaic_method': 'bilinear'}


def tiles(img, size=TILE):
    """Non-overlapping ``size`` tiles of an image, row by row, as ``(row, col, tile)``."""
    h, w = img.shape[:2]
    return [(i, j, img[i * size:(i + 1) * size, j * size:(j + 1) * size]) for i in range(h // size)
            for j in range(w // size)]


def _params_of(sample):
    """The exact camera parameters drawn for a one-image sample, as JSON values."""
    out = {}
    for key, value in sample.params.items():
        if key == 'nlf_index':  # an index into the one-setting model: the setting's name is stored instead
            continue
        if key == 'pattern_index':
            out['pattern'] = PATTERNS[int(value[0])]
        else:
            out[key] = value[0].tolist()  # a number, or the 3x3 colour matrix as nested lists
    return out


def overlapping_crops(img, stride, size=TILE):
    """The ``size`` crops of an image at ``stride`` that are not grid tiles, as ``(top, left, crop)``."""
    h, w = img.shape[:2]
    return [(top, left, img[top:top + size, left:left + size]) for top in range(0, h - size + 1, stride)
            for left in range(0, w - size + 1, stride) if top % size or left % size]


def check_camsim_split(train_stride=TILE, val_images=()):
    """Raise ``ValueError`` for a split request that leaves a split empty or names an unknown image."""
    if not 1 <= int(train_stride) <= TILE:
        raise ValueError(f'camsim: train_stride must be in [1, {TILE}], got {train_stride}.')
    unknown = [name for name in val_images if name not in CAMSIM_TRAIN]
    if unknown:
        raise ValueError(f'camsim: validation images {unknown} are not training images (one of '
                         f'{", ".join(CAMSIM_TRAIN)}; the test images stay the test split).')
    if set(CAMSIM_TRAIN) <= set(val_images):
        raise ValueError('camsim: every training image is a validation image; the training split would be empty.')


def prepare_camsim(output, settings=CAMSIM_SETTINGS, seed=SEED, overwrite=False, train_stride=TILE, val_images=()):
    """Write the benchmark into ``output`` (atomically); returns the manifest written to ``camsim.json``.

    Args:
        output (str): The folder to write.
        settings (tuple[str]): The SIDD camera/ISO settings, taking turns over the tiles.
        seed (int): Base seed: grid tile ``k`` (in the default's order) draws with ``seed + k``.
        overwrite (bool): Replace an existing folder.
        train_stride (int): Below ``TILE``, overlapping crops at this stride are added to the paired training set.
        val_images (tuple[str]): Training images held out as the validation split (every grid tile, paired).
    """
    val_images = tuple(val_images)
    check_camsim_split(train_stride, val_images)
    models = {name: build_noise(dict(camsim_noise_opt([name]))) for name in settings}
    images = {name: bundled_image(name) for name in CAMSIM_TRAIN + CAMSIM_TEST}  # decoded once
    jobs = []  # (split, name, tile, seed, setting); the grid's seeds and settings do not depend on the options
    for split, names in (('train', CAMSIM_TRAIN), ('test', CAMSIM_TEST)):
        for name in names:
            for row, col, tile in tiles(images[name]):
                index = len(jobs)
                jobs.append((split, f'{name}_r{row}c{col}', tile, seed + index, settings[index % len(settings)]))
    extra = 0
    if train_stride < TILE:
        for name in CAMSIM_TRAIN:
            if name in val_images:
                continue
            for top, left, crop in overlapping_crops(images[name], train_stride):
                jobs.append(('extra', f'{name}_y{top}x{left}', crop, seed + EXTRA_SEED_OFFSET + extra,
                             settings[extra % len(settings)]))
                extra += 1
    manifest = {
        'version': CAMSIM_VERSION,
        'seed': seed,
        'tile': TILE,
        'settings': list(settings),
        'noise_opt': camsim_noise_opt(settings),
        'train_images': [name for name in CAMSIM_TRAIN if name not in val_images],
        'val_images': list(val_images),
        'test_images': list(CAMSIM_TEST),
        'train_stride': int(train_stride),
        'torch': torch.__version__.split('+')[0],
        'tiles': {}
    }
    with AtomicOutput(output, overwrite) as tmp:
        train_count = 0
        for split, tile_name, clean, tile_seed, setting in tqdm(jobs, desc='camsim', unit='tile'):
            x = torch.from_numpy(clean.astype(np.float32) / 255.).permute(2, 0, 1)[None]
            sample = models[setting].sample(x, torch.Generator().manual_seed(tile_seed))
            noisy = (sample.noisy[0].clamp(0, 1).permute(1, 2, 0).numpy() * 255.).round().astype(np.uint8)
            if split == 'test':
                outputs = {'test/noisy': noisy, 'test/clean': clean}
            elif split == 'extra':
                outputs = {'train/noisy': noisy, 'train/clean': clean}
            elif tile_name.rsplit('_r', 1)[0] in val_images:
                outputs = {'val/noisy': noisy, 'val/clean': clean}
            elif train_count % 2 == 0:
                outputs = {'train/noisy': noisy, 'train/clean': clean}
            else:
                outputs = {'train_noisy_only': noisy}
            train_count += split == 'train'  # the grid's alternation is that of the default
            for folder, img in outputs.items():
                write_image(osp.join(tmp, folder, f'{tile_name}.png'), cv2.cvtColor(img, cv2.COLOR_RGB2BGR))
            key = f'{next(iter(outputs)).split("/")[0]}/{tile_name}'
            manifest['tiles'][key] = dict(setting=setting, seed=tile_seed, **_params_of(sample))
        with open(osp.join(tmp, 'camsim.json'), 'w') as f:
            json.dump(manifest, f, indent=1)
    return manifest
