"""The simulated camera benchmark (``basicsr-noise prepare camsim``): real-like sRGB noise with a known truth.

Clean images bundled with scikit-image (never the download-backed ones) are resized to at most 512 pixels, cut
into 128x128 tiles and passed through :class:`~basicsr_noise.noise.camera.CameraNoise` (Brooks et al.'s
unprocessing, Bayer mosaic, SIDD heteroscedastic raw noise of a named camera/ISO, demosaicing, processing) with a
fixed seed per tile; the camera/ISO settings take turns over the tiles, as SIDD mixes phones. Output::

    <output>/train/clean, train/noisy     paired training tiles (even tiles of the training images)
    <output>/train_noisy_only             noisy training tiles without clean versions (odd tiles)
    <output>/test/clean, test/noisy       test tiles of disjoint images
    <output>/camsim.json                  the recipe, the true noise model and every tile's exact parameters

Noisy tiles are rounded to uint8 like stored photos. The same torch version gives the same bytes.
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


def prepare_camsim(output, settings=CAMSIM_SETTINGS, seed=SEED, overwrite=False):
    """Write the benchmark into ``output`` (atomically); returns the manifest written to ``camsim.json``."""
    models = {name: build_noise(dict(camsim_noise_opt([name]))) for name in settings}
    jobs = []
    for split, names in (('train', CAMSIM_TRAIN), ('test', CAMSIM_TEST)):
        for name in names:
            for row, col, tile in tiles(bundled_image(name)):
                jobs.append((split, f'{name}_r{row}c{col}', tile))
    manifest = {
        'version': CAMSIM_VERSION,
        'seed': seed,
        'tile': TILE,
        'settings': list(settings),
        'noise_opt': camsim_noise_opt(settings),
        'train_images': list(CAMSIM_TRAIN),
        'test_images': list(CAMSIM_TEST),
        'torch': torch.__version__.split('+')[0],
        'tiles': {}
    }
    with AtomicOutput(output, overwrite) as tmp:
        train_count = 0
        for index, (split, tile_name, clean) in enumerate(tqdm(jobs, desc='camsim', unit='tile')):
            setting = settings[index % len(settings)]
            x = torch.from_numpy(clean.astype(np.float32) / 255.).permute(2, 0, 1)[None]
            sample = models[setting].sample(x, torch.Generator().manual_seed(seed + index))
            noisy = (sample.noisy[0].clamp(0, 1).permute(1, 2, 0).numpy() * 255.).round().astype(np.uint8)
            if split == 'test':
                outputs = {'test/noisy': noisy, 'test/clean': clean}
            elif train_count % 2 == 0:
                outputs = {'train/noisy': noisy, 'train/clean': clean}
            else:
                outputs = {'train_noisy_only': noisy}
            train_count += split == 'train'
            for folder, img in outputs.items():
                write_image(osp.join(tmp, folder, f'{tile_name}.png'), cv2.cvtColor(img, cv2.COLOR_RGB2BGR))
            key = f'{next(iter(outputs)).split("/")[0]}/{tile_name}'
            manifest['tiles'][key] = dict(setting=setting, seed=seed + index, **_params_of(sample))
        with open(osp.join(tmp, 'camsim.json'), 'w') as f:
            json.dump(manifest, f, indent=1)
    return manifest
