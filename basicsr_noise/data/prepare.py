"""Data preparation: folders to LMDB, SIDD-Medium to cropped LMDB pairs, SIDD validation blocks to images.

Every writer goes through :mod:`basicsr_noise.utils.atomic`, so an interrupted run never leaves a half-written
LMDB or folder behind, and an existing output is only replaced with ``overwrite``.
"""
import cv2
import numpy as np
import os
from os import path as osp
from tqdm import tqdm

from basicsr_noise.data.image_source import header_size
from basicsr_noise.data.sidd_dataset import load_sidd_blocks, sidd_medium_pairs
from basicsr_noise.utils.atomic import AtomicOutput, LmdbWriter, lmdb_map_size
from basicsr_noise.utils.errors import InputError
from basicsr_noise.utils.image_io import is_image_file, read_image


def make_lmdb(folder, lmdb_path, overwrite=False, compress_level=1):
    """Every image of ``folder`` (recursively) into an LMDB; keys are relative paths without extension, ``/``
    replaced by ``_``."""
    if not osp.isdir(folder):
        raise FileNotFoundError(f'{folder} is not a folder.')
    paths = sorted(
        osp.relpath(osp.join(root, f), folder) for root, _, files in os.walk(folder) for f in files if is_image_file(f))
    if not paths:
        raise FileNotFoundError(f'No images in {folder}.')
    shapes = [(*header_size(osp.join(folder, p)), 4) for p in paths]
    with LmdbWriter(lmdb_path, lmdb_map_size(shapes), overwrite, compress_level) as writer:
        for p in tqdm(paths, unit='image', desc=f'make-lmdb {osp.basename(lmdb_path)}'):
            writer.put(osp.splitext(p)[0].replace(os.sep, '_'), read_image(osp.join(folder, p), cv2.IMREAD_UNCHANGED))
    return len(paths)


def crop_starts(length, crop_size, step, thresh_size=0):
    """Top-left corners of sliding-window crops along one axis (BasicSR's ``extract_subimages`` rule)."""
    if length < crop_size:
        return []
    starts = list(range(0, length - crop_size + 1, step))
    if length - (starts[-1] + crop_size) > thresh_size:
        starts.append(length - crop_size)
    return starts


def prepare_sidd(data_root, output, crop_size=512, step=384, thresh_size=0, overwrite=False, compress_level=1):
    """SIDD-Medium sRGB (``Data/<scene>/*_NOISY_SRGB_*.PNG``) to ``noisy_crops.lmdb`` and ``gt_crops.lmdb`` with
    identical keys ``<scene>_<image id>_s<NNN>`` (the scene name keeps the camera and ISO)."""
    pairs = sidd_medium_pairs(data_root)
    shapes = []
    for noisy, _ in pairs:
        h, w = header_size(osp.join(data_root, noisy))
        shapes += [(crop_size, crop_size, 3)] * (
            len(crop_starts(h, crop_size, step, thresh_size)) * len(crop_starts(w, crop_size, step, thresh_size)))
    if not shapes:
        raise InputError(f'No SIDD image in {data_root} is at least {crop_size} pixels on both sides.')
    os.makedirs(output, exist_ok=True)
    map_size = lmdb_map_size(shapes)
    with LmdbWriter(osp.join(output, 'noisy_crops.lmdb'), map_size, overwrite, compress_level) as noisy_lmdb, \
            LmdbWriter(osp.join(output, 'gt_crops.lmdb'), map_size, overwrite, compress_level) as gt_lmdb:
        for noisy, clean in tqdm(pairs, unit='pair', desc='SIDD crops'):
            imgs = [read_image(osp.join(data_root, p)) for p in (noisy, clean)]
            if imgs[0].shape != imgs[1].shape:
                raise InputError(f'SIDD: {noisy} and {clean} differ in size.')
            scene = osp.dirname(noisy).replace('.', '_')
            image_id = osp.basename(noisy).split('_NOISY')[0].split('.')[0]
            h, w = imgs[0].shape[:2]
            index = 0
            for top in crop_starts(h, crop_size, step, thresh_size):
                for left in crop_starts(w, crop_size, step, thresh_size):
                    index += 1
                    key = f'{scene}_{image_id}_s{index:03d}'
                    window = (slice(top, top + crop_size), slice(left, left + crop_size))
                    noisy_lmdb.put(key, imgs[0][window])
                    gt_lmdb.put(key, imgs[1][window])
    return len(shapes)


def prepare_sidd_val(noisy_mat, gt_mat, output, overwrite=False, lmdb_output=False):
    """SIDD validation ``.mat`` blocks to ``<output>/{noisy,clean}`` PNG folders (or ``.lmdb``), named ``SS_BB``."""
    sets = [('noisy', load_sidd_blocks(noisy_mat, 'ValidationNoisyBlocksSrgb'))]
    if gt_mat:
        sets.append(('clean', load_sidd_blocks(gt_mat, 'ValidationGtBlocksSrgb')))
    os.makedirs(output, exist_ok=True)
    for kind, blocks in sets:
        scenes, per_scene = blocks.shape[:2]
        names = [(s, b, f'{s:02d}_{b:02d}') for s in range(scenes) for b in range(per_scene)]
        if lmdb_output:
            shapes = [blocks.shape[2:]] * len(names)
            with LmdbWriter(osp.join(output, f'{kind}.lmdb'), lmdb_map_size(shapes), overwrite) as writer:
                for s, b, name in tqdm(names, unit='block', desc=f'SIDD val {kind}'):
                    writer.put(name, np.ascontiguousarray(blocks[s, b][..., ::-1]))
        else:
            with AtomicOutput(osp.join(output, kind), overwrite) as folder:
                for s, b, name in tqdm(names, unit='block', desc=f'SIDD val {kind}'):
                    cv2.imwrite(osp.join(folder, f'{name}.png'), np.ascontiguousarray(blocks[s, b][..., ::-1]))
    return sum(b.shape[0] * b.shape[1] for _, b in sets)
