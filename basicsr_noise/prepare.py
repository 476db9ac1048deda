"""Data preparation: folders to LMDB, SIDD-Medium to cropped LMDB pairs, SIDD validation blocks to images.

Every writer builds its output under a temporary name and renames it at the end, so an interrupted run never
leaves a half-written LMDB or folder behind, and an existing output is only replaced with ``overwrite``.
"""
import cv2
import lmdb
import numpy as np
import os
import shutil
from os import path as osp
from tqdm import tqdm

from basicsr_noise.data.image_source import IMG_EXTENSIONS, header_size
from basicsr_noise.data.sidd_dataset import load_sidd_blocks, sidd_medium_pairs


class AtomicOutput:
    """A folder written under ``<path>.tmp<pid>`` and renamed to ``path`` on success, removed on failure."""

    def __init__(self, path, overwrite=False):
        self.path = path.rstrip('/')
        if osp.exists(self.path) and not overwrite:
            raise FileExistsError(f'{self.path} exists; pass --overwrite to replace it.')
        self.tmp = f'{self.path}.tmp{os.getpid()}'

    def __enter__(self):
        if osp.exists(self.tmp):
            shutil.rmtree(self.tmp)
        os.makedirs(self.tmp)
        return self.tmp

    def __exit__(self, exc_type, exc, tb):
        if exc_type is not None:
            shutil.rmtree(self.tmp, ignore_errors=True)
            return False
        if osp.exists(self.path):
            shutil.rmtree(self.path)
        os.replace(self.tmp, self.path)
        return False


def lmdb_map_size(shapes):
    """An upper bound of the LMDB size for PNG-encoded images of these ``(h, w, c)`` shapes."""
    raw = sum(int(np.prod(s)) for s in shapes)
    return int(raw * 1.1) + len(shapes) * 16384 + (64 << 20)


class LmdbWriter:
    """Writes images into an LMDB in BasicSR's format (PNG bytes, ``meta_info.txt``), atomically.

    Args:
        path (str): Output, ending with ``.lmdb``.
        map_size (int): LMDB map size (see :func:`lmdb_map_size`).
        overwrite (bool): Replace an existing output.
        compress_level (int): PNG compression level. Default: 1.
    """

    def __init__(self, path, map_size, overwrite=False, compress_level=1, batch=1000):
        if not path.rstrip('/').endswith('.lmdb'):
            raise ValueError(f'An LMDB path must end with .lmdb, got {path}.')
        self.output = AtomicOutput(path, overwrite)
        self.map_size, self.compress_level, self.batch = map_size, compress_level, batch

    def __enter__(self):
        self.folder = self.output.__enter__()
        self.env = lmdb.open(self.folder, map_size=self.map_size)
        self.txn = self.env.begin(write=True)
        self.meta, self.keys = [], set()
        return self

    def put(self, key, img):
        """Add an HWC (or HW) uint8 image (BGR, OpenCV order) under ``key`` (no dots: BasicSR splits on them)."""
        if '.' in key or key in self.keys:
            raise ValueError(f'LMDB key {key!r} contains a dot or is repeated.')
        ok, encoded = cv2.imencode('.png', img, [cv2.IMWRITE_PNG_COMPRESSION, self.compress_level])
        if not ok:
            raise ValueError(f'Cannot encode the image for key {key}.')
        self.txn.put(key.encode('ascii'), encoded.tobytes())
        h, w = img.shape[:2]
        self.meta.append(f'{key}.png ({h},{w},{1 if img.ndim == 2 else img.shape[2]}) {self.compress_level}\n')
        self.keys.add(key)
        if len(self.meta) % self.batch == 0:
            self.txn.commit()
            self.txn = self.env.begin(write=True)

    def __exit__(self, exc_type, exc, tb):
        if exc_type is None:
            self.txn.commit()
        else:
            self.txn.abort()
        self.env.close()
        if exc_type is None:
            with open(osp.join(self.folder, 'meta_info.txt'), 'w') as f:
                f.writelines(self.meta)
        return self.output.__exit__(exc_type, exc, tb)


def _read(path, flag=cv2.IMREAD_UNCHANGED):
    img = cv2.imread(path, flag)
    if img is None:
        raise ValueError(f'Cannot read image {path}.')
    return img


def make_lmdb(folder, lmdb_path, overwrite=False, compress_level=1):
    """Every image of ``folder`` (recursively) into an LMDB; keys are relative paths without extension, ``/``
    replaced by ``_``."""
    if not osp.isdir(folder):
        raise FileNotFoundError(f'{folder} is not a folder.')
    paths = sorted(osp.relpath(osp.join(root, f), folder) for root, _, files in os.walk(folder) for f in files
                   if f.lower().endswith(IMG_EXTENSIONS))
    if not paths:
        raise FileNotFoundError(f'No images in {folder}.')
    shapes = [(*header_size(osp.join(folder, p)), 4) for p in paths]
    with LmdbWriter(lmdb_path, lmdb_map_size(shapes), overwrite, compress_level) as writer:
        for p in tqdm(paths, unit='image', desc=f'make-lmdb {osp.basename(lmdb_path)}'):
            writer.put(osp.splitext(p)[0].replace(os.sep, '_'), _read(osp.join(folder, p)))
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
        shapes += [(crop_size, crop_size, 3)] * (len(crop_starts(h, crop_size, step, thresh_size)) *
                                                 len(crop_starts(w, crop_size, step, thresh_size)))
    if not shapes:
        raise ValueError(f'No SIDD image in {data_root} is at least {crop_size} pixels on both sides.')
    os.makedirs(output, exist_ok=True)
    map_size = lmdb_map_size(shapes)
    with LmdbWriter(osp.join(output, 'noisy_crops.lmdb'), map_size, overwrite, compress_level) as noisy_lmdb, \
            LmdbWriter(osp.join(output, 'gt_crops.lmdb'), map_size, overwrite, compress_level) as gt_lmdb:
        for noisy, clean in tqdm(pairs, unit='pair', desc='SIDD crops'):
            imgs = [_read(osp.join(data_root, p), cv2.IMREAD_COLOR) for p in (noisy, clean)]
            if imgs[0].shape != imgs[1].shape:
                raise ValueError(f'SIDD: {noisy} and {clean} differ in size.')
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
