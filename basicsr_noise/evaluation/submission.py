"""Benchmark submissions: SIDD sRGB (``.mat`` of uint8 blocks, or the Kaggle CSV of base64 blocks) and DND sRGB
(one ``.mat`` per crop, bundled into the 50 files the server takes), from a denoiser or from a folder of results.

Layouts, as the official kits define them:

* SIDD ``SubmitSrgb.mat``: ``DenoisedBlocksSrgb``, a 40 x 32 cell array of uint8 256x256x3 RGB blocks, plus
  ``TimeMPSrgb`` (seconds per megapixel) and ``OptionalData``.
* SIDD ``SubmitSrgb.csv`` (kaggle.com/competitions/sidd-benchmark-srgb-psnr): columns ``ID`` and ``BLOCK``, one row
  per block in scene-major order (``ID = scene * 32 + block``), ``BLOCK`` the base64 of the block's uint8 bytes
  (C order, H x W x 3 RGB).
* DND: ``%04d_%02d.mat`` (image 1-50, crop 1-20) holding ``Idenoised_crop`` (float32 RGB in [0, 1]), bundled into
  ``bundled/%04d.mat`` with ``Idenoised`` (a 1 x 20 cell array), ``israw = False`` and ``eval_version = '1.0'``.
  The noisy data come from the DND release (``info.mat`` and ``images_srgb/%04d.mat``, MATLAB v7.3 / HDF5).

Rounding: SIDD blocks are ``round(clip(x, 0, 1) * 255)`` as uint8; DND crops stay float32.
"""
import base64
import csv
import cv2
import h5py
import numpy as np
import os
import scipy.io
import time
import torch
from os import path as osp
from tqdm import tqdm

from basicsr_noise.data.sidd_dataset import load_sidd_blocks
from basicsr_noise.utils.errors import InputError
from basicsr_noise.utils.image_io import read_image

SIDD_SHAPE = (40, 32, 256, 256, 3)
SIDD_NOISY_KEY = 'BenchmarkNoisyBlocksSrgb'
DND_IMAGES, DND_CROPS = 50, 20


def to_uint8(x):
    """Float RGB in [0, 1] (array or tensor) to uint8 with rounding, as the SIDD kits do."""
    x = x.detach().cpu().numpy() if torch.is_tensor(x) else np.asarray(x)
    return np.round(np.clip(x, 0, 1) * 255).astype(np.uint8)


def _check_sidd_blocks(blocks):
    blocks = np.asarray(blocks)
    if blocks.dtype != np.uint8 or blocks.ndim != 5 or blocks.shape[2:] != (256, 256, 3):
        raise InputError(f'SIDD blocks must be uint8 (scenes, blocks, 256, 256, 3), got {blocks.dtype} {blocks.shape}.')
    return blocks


# ----------------------------------------------------------------------------------------------- SIDD
def write_sidd_mat(blocks, path, time_mp=0.0, method_name=''):
    """``SubmitSrgb.mat``: ``DenoisedBlocksSrgb`` as a cell array of the blocks, ``TimeMPSrgb``, ``OptionalData``."""
    blocks = _check_sidd_blocks(blocks)
    cells = np.empty(blocks.shape[:2], dtype=object)
    for s in range(blocks.shape[0]):
        for b in range(blocks.shape[1]):
            cells[s, b] = blocks[s, b]
    optional = {'MethodName': method_name, 'Authors': '', 'PaperTitle': '', 'Venue': ''}
    scipy.io.savemat(path, {'DenoisedBlocksSrgb': cells, 'TimeMPSrgb': float(time_mp), 'OptionalData': optional})
    return path


def read_sidd_mat(path):
    """The blocks of a ``SubmitSrgb.mat`` as one uint8 array (scenes, blocks, 256, 256, 3)."""
    cells = scipy.io.loadmat(path)['DenoisedBlocksSrgb']
    return np.stack([np.stack([np.asarray(cells[s, b]) for b in range(cells.shape[1])]) for s in range(cells.shape[0])])


def block_to_base64(block):
    return base64.b64encode(np.ascontiguousarray(block, dtype=np.uint8).tobytes()).decode('ascii')


def base64_to_block(text, shape=SIDD_SHAPE[2:]):
    return np.frombuffer(base64.b64decode(text), dtype=np.uint8).reshape(shape)


def write_sidd_csv(blocks, path):
    """``SubmitSrgb.csv`` for the Kaggle SIDD benchmark (``ID``, ``BLOCK``)."""
    blocks = _check_sidd_blocks(blocks)
    with open(path, 'w', newline='') as f:
        writer = csv.writer(f)
        writer.writerow(['ID', 'BLOCK'])
        for s in range(blocks.shape[0]):
            for b in range(blocks.shape[1]):
                writer.writerow([s * blocks.shape[1] + b, block_to_base64(blocks[s, b])])
    return path


def read_sidd_csv(path, scenes=SIDD_SHAPE[0], per_scene=SIDD_SHAPE[1]):
    """The blocks of a ``SubmitSrgb.csv`` as one uint8 array (scenes, blocks, 256, 256, 3)."""
    csv.field_size_limit(max(csv.field_size_limit(), 1 << 20))  # one block is 262,144 base64 characters
    with open(path, newline='') as f:
        rows = list(csv.DictReader(f))
    if [int(r['ID']) for r in rows] != list(range(scenes * per_scene)):
        raise InputError(f'{path}: IDs are not 0..{scenes * per_scene - 1} in order.')
    return np.stack([base64_to_block(r['BLOCK']) for r in rows]).reshape(scenes, per_scene, *SIDD_SHAPE[2:])


def denoise_sidd_blocks(noisy, denoiser):
    """Denoise (scenes, blocks, 256, 256, 3) uint8 RGB blocks; returns the uint8 blocks and seconds per megapixel."""
    noisy = _check_sidd_blocks(noisy)
    out = np.empty_like(noisy)
    start = time.time()
    for s in tqdm(range(noisy.shape[0]), desc='SIDD scenes', unit='scene'):
        for b in range(noisy.shape[1]):
            x = torch.from_numpy(noisy[s, b].astype(np.float32) / 255.).permute(2, 0, 1)[None]
            out[s, b] = to_uint8(denoiser(x)[0].permute(1, 2, 0))
    megapixels = noisy.shape[0] * noisy.shape[1] * noisy.shape[2] * noisy.shape[3] / 1e6
    return out, (time.time() - start) / megapixels


def sidd_blocks_from_folder(folder, scenes=SIDD_SHAPE[0], per_scene=SIDD_SHAPE[1]):
    """Blocks from PNGs named ``SS_BB.png`` (``prepare sidd-val`` naming; a suffix after it is allowed)."""
    files = {}
    for name in os.listdir(folder):
        stem = osp.splitext(name)[0]
        key = stem[:5]
        if len(key) == 5 and key[2] == '_' and key[:2].isdigit() and key[3:].isdigit():
            files[(int(key[:2]), int(key[3:]))] = osp.join(folder, name)
    missing = [f'{s:02d}_{b:02d}' for s in range(scenes) for b in range(per_scene) if (s, b) not in files]
    if missing:
        raise InputError(f'{folder}: no result for blocks {missing[:5]}{" ..." if len(missing) > 5 else ""} '
                         f'({len(missing)} missing).')
    blocks = np.empty((scenes, per_scene, *SIDD_SHAPE[2:]), np.uint8)
    for (s, b), path in files.items():
        if s < scenes and b < per_scene:
            img = read_image(path)
            if img.shape != SIDD_SHAPE[2:]:
                raise InputError(f'{path}: expected a 256x256 colour image.')
            blocks[s, b] = img[..., ::-1]
    return blocks


def submit_sidd(output,
                noisy_mat=None,
                denoiser=None,
                results=None,
                formats=('csv', 'mat'),
                method_name='',
                grid=SIDD_SHAPE[:2]):
    """Write ``SubmitSrgb.csv`` / ``SubmitSrgb.mat`` into ``output`` from a denoiser or a results folder
    (``grid``: scenes x blocks expected in a results folder, 40 x 32 for the benchmark)."""
    if (denoiser is None) == (results is None):
        raise InputError('Give either a denoiser (with the noisy blocks) or a results folder.')
    time_mp = 0.0
    if denoiser is not None:
        blocks, time_mp = denoise_sidd_blocks(load_sidd_blocks(noisy_mat, SIDD_NOISY_KEY), denoiser)
    else:
        blocks = sidd_blocks_from_folder(results, *grid)
    os.makedirs(output, exist_ok=True)
    written = []
    if 'csv' in formats:
        written.append(write_sidd_csv(blocks, osp.join(output, 'SubmitSrgb.csv')))
    if 'mat' in formats:
        written.append(write_sidd_mat(blocks, osp.join(output, 'SubmitSrgb.mat'), time_mp, method_name))
    return written


# ----------------------------------------------------------------------------------------------- DND
def write_dnd_crop(folder, image, crop, denoised):
    """``%04d_%02d.mat`` with ``Idenoised_crop`` (float32, H x W x 3 RGB in [0, 1]); image and crop count from 1."""
    denoised = np.asarray(denoised, dtype=np.float32)
    if denoised.ndim != 3 or denoised.shape[2] != 3:
        raise InputError(f'A DND crop must be H x W x 3, got {denoised.shape}.')
    path = osp.join(folder, f'{image:04d}_{crop:02d}.mat')
    scipy.io.savemat(path, {'Idenoised_crop': denoised})
    return path


def bundle_dnd(folder, output=None):
    """Bundle the 1000 crop files of ``folder`` into the 50 files of a DND sRGB submission (``folder/bundled``)."""
    output = output or osp.join(folder, 'bundled')
    os.makedirs(output, exist_ok=True)
    for i in range(1, DND_IMAGES + 1):
        cells = np.empty((1, DND_CROPS), dtype=object)  # a MATLAB 1 x 20 cell array
        for k in range(1, DND_CROPS + 1):
            path = osp.join(folder, f'{i:04d}_{k:02d}.mat')
            if not osp.isfile(path):
                raise FileNotFoundError(f'DND bundle: {path} is missing.')
            cells[0, k - 1] = scipy.io.loadmat(path)['Idenoised_crop'].astype(np.float32)
        scipy.io.savemat(osp.join(output, f'{i:04d}.mat'), {'Idenoised': cells, 'israw': False, 'eval_version': '1.0'})
    return output


def dnd_crops(data_folder):
    """Yield ``(image, crop, noisy_crop)`` of the DND release: float32 RGB in [0, 1], image and crop from 1."""
    info_path = osp.join(data_folder, 'info.mat')
    if not osp.isfile(info_path):
        raise FileNotFoundError(f'DND: {info_path} does not exist (the folder of the DND release).')
    with h5py.File(info_path, 'r') as infos:
        info = infos['info']
        boxes_refs = info['boundingboxes']
        for i in range(DND_IMAGES):
            with h5py.File(osp.join(data_folder, 'images_srgb', f'{i + 1:04d}.mat'), 'r') as img:
                noisy = np.array(img['InoisySRGB'], dtype=np.float32).T
            boxes = np.array(info[boxes_refs[0][i]]).T  # rows: (top, left, bottom, right), 1-based inclusive
            for k in range(DND_CROPS):
                top, left, bottom, right = (int(v) for v in boxes[k])
                yield i + 1, k + 1, noisy[top - 1:bottom, left - 1:right].copy()


def submit_dnd(output, data_folder=None, denoiser=None, results=None):
    """Write the DND crop files into ``output`` and bundle them into ``output/bundled``."""
    if (denoiser is None) == (results is None):
        raise InputError('Give either a denoiser (with the DND data folder) or a results folder.')
    os.makedirs(output, exist_ok=True)
    if denoiser is not None:
        for i, k, crop in tqdm(dnd_crops(data_folder), total=DND_IMAGES * DND_CROPS, desc='DND crops', unit='crop'):
            x = torch.from_numpy(crop).permute(2, 0, 1)[None]
            out = denoiser(x)[0].clamp(0, 1).permute(1, 2, 0).detach().cpu().numpy()
            write_dnd_crop(output, i, k, out)
    else:
        for i in range(1, DND_IMAGES + 1):
            for k in range(1, DND_CROPS + 1):
                path = osp.join(results, f'{i:04d}_{k:02d}.png')
                img = read_image(path, cv2.IMREAD_UNCHANGED)
                scale = 65535. if img.dtype == np.uint16 else 255.
                write_dnd_crop(output, i, k, img[..., ::-1].astype(np.float32) / scale)
    return bundle_dnd(output)
