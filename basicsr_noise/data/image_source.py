"""Reading images by name from a folder or a BasicSR LMDB, with the checks and crops the datasets share."""
import cv2
import numpy as np
import os
from basicsr.data.data_util import paths_from_lmdb
from basicsr.utils import FileClient
from os import path as osp
from PIL import Image

from basicsr_noise.utils.errors import InputError
from basicsr_noise.utils.image_io import is_image_file


def lmdb_sizes(lmdb_path):
    """``{key: (h, w, c)}`` from a BasicSR LMDB's ``meta_info.txt``."""
    meta_path = osp.join(lmdb_path, 'meta_info.txt')
    if not osp.isfile(meta_path):
        raise FileNotFoundError(f'{lmdb_path} has no meta_info.txt; is it an LMDB made by BasicSR?')
    sizes = {}
    with open(meta_path) as f:
        for line in f:
            name, shape = line.split(' ', 1)
            sizes[name.split('.')[0]] = tuple(int(v) for v in shape.split(')')[0].strip(' (').split(','))
    return sizes


def decode_image(img_bytes, path, grey=False):
    """Decode image bytes to float32 HWC in [0, 1] (BGR, or one channel when ``grey``); name the file on error."""
    flag = cv2.IMREAD_GRAYSCALE if grey else cv2.IMREAD_COLOR
    img = cv2.imdecode(np.frombuffer(img_bytes, np.uint8), flag) if img_bytes else None
    if img is None:
        raise InputError(f'Cannot decode image {path}: the file is empty, corrupt or not an image.')
    img = img.astype(np.float32) / 255.
    return img[..., None] if grey else img


def header_size(path):
    """``(h, w)`` from an image file's header, with errors that name the file."""
    if not osp.isfile(path):
        raise FileNotFoundError(f'Image {path} does not exist.')
    try:
        with Image.open(path) as img:
            w, h = img.size
    except Exception as e:  # noqa: BLE001 (PIL raises several types for a bad file)
        raise InputError(f'Cannot read image {path}: {e}') from e
    return h, w


class ImageSource:
    """The images of one folder or LMDB, addressed by name (file name in a folder, key in an LMDB).

    Args:
        root (str): Folder or ``.lmdb`` folder.
        backend (str): ``disk`` or ``lmdb``.
        meta_info_file (str | None): For a folder: only the names in its first column.
        grey (bool): Read one channel.
        names (list | None): For a folder: exactly these names (checked).
        what (str): How error messages call the root (e.g. ``datasets.train.dataroot_gt``).
    """

    def __init__(self, root, backend='disk', meta_info_file=None, grey=False, names=None, what='dataroot'):
        if backend not in ('disk', 'lmdb'):
            raise InputError(f'{what}: io_backend type must be disk or lmdb, got {backend!r}.')
        if root is None or not osp.exists(root):
            raise FileNotFoundError(f'{what} {root} does not exist.')
        self.root, self.backend, self.grey, self.what = root, backend, grey, what
        self.client = None
        if backend == 'lmdb':
            self.sizes = lmdb_sizes(root)
            self.names = [osp.basename(p) for p in paths_from_lmdb(root)] if names is None else list(names)
            missing = [n for n in self.names if n not in self.sizes]
            if missing:
                raise InputError(f'{what} {root} lacks the keys {missing[:5]}.')
        else:
            if names is None and meta_info_file:
                with open(meta_info_file) as f:
                    names = [line.split(' ')[0].strip() for line in f if line.strip()]
            if names is None:
                names = sorted(f for f in os.listdir(root) if is_image_file(f))
            self.names = list(names)
            self.sizes = {n: header_size(osp.join(root, n)) for n in self.names}
        if not self.names:
            raise InputError(f'{what}: no images found in {root}.')

    def __len__(self):
        return len(self.names)

    def path(self, name):
        return osp.join(self.root, name)

    def check_min_size(self, size):
        for name, (h, w, *_) in self.sizes.items():
            if h < size or w < size:
                raise InputError(f'Image {self.path(name)} ({h}x{w}) is smaller than the patch size gt_size={size}.')

    def read(self, name):
        """HWC float32 in [0, 1], BGR (or one channel)."""
        if self.client is None:  # created lazily: one per DataLoader worker
            if self.backend == 'lmdb':
                self.client = FileClient('lmdb', db_paths=[self.root], client_keys=['default'])
            else:
                self.client = FileClient('disk')
        key = name if self.backend == 'lmdb' else self.path(name)
        return decode_image(self.client.get(key), self.path(name), self.grey)


def sample_rng(seed, index):
    """Per-sample RNG from the sampler's draw id (see ``basicsr_noise.compat.SampleIndex``) and the index."""
    return np.random.default_rng([int(seed), getattr(index, 'draw', int(index)), int(index)])


def random_crop(imgs, patch_size, rng):
    """The same random ``patch_size`` crop of a list of HWC arrays of one size."""
    h, w = imgs[0].shape[:2]
    top = int(rng.integers(0, h - patch_size + 1))
    left = int(rng.integers(0, w - patch_size + 1))
    return [img[top:top + patch_size, left:left + patch_size] for img in imgs]


def augment_dihedral(imgs, hflip, rot, rng):
    """The same random flip / 90-degree rotation for a list of HWC arrays."""
    if hflip and rng.random() < 0.5:
        imgs = [img[:, ::-1] for img in imgs]
    if rot:
        if rng.random() < 0.5:
            imgs = [img[::-1] for img in imgs]
        if rng.random() < 0.5:
            imgs = [img.transpose(1, 0, 2) for img in imgs]
    return [np.ascontiguousarray(img) for img in imgs]


def color_option(opt):
    color = opt.get('color', 'rgb')
    if color not in ('rgb', 'gray'):
        raise InputError(f'{opt.get("name")}: color must be rgb or gray, got {color!r}.')
    return color == 'gray'


def backend_of(opt):
    return (opt.get('io_backend') or {'type': 'disk'}).get('type', 'disk')
