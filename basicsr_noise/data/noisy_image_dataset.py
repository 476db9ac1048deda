import cv2
import json
import numpy as np
import os
import torch
from basicsr.data.data_util import paths_from_lmdb
from basicsr.utils import FileClient, img2tensor
from basicsr.utils.registry import DATASET_REGISTRY
from os import path as osp
from PIL import Image
from torch.utils import data as data

IMG_EXTENSIONS = ('.png', '.jpg', '.jpeg', '.bmp', '.tif', '.tiff', '.webp')


def _lmdb_sizes(lmdb_path):
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
        raise ValueError(f'Cannot decode image {path}: the file is empty, corrupt or not an image.')
    img = img.astype(np.float32) / 255.
    return img[..., None] if grey else img


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


@DATASET_REGISTRY.register()
class NoisyImageDataset(data.Dataset):
    """Noisy images, optionally with clean counterparts, for methods that train on noisy images alone.

    Used by R2R (Pang et al., CVPR 2021) for training (noisy only) and validation (noisy + clean). Images are
    read through BasicSR's FileClient from a folder (``io_backend.type: disk``, optionally restricted by
    ``meta_info_file``) or an LMDB (``lmdb``, keys from its ``meta_info.txt``). Clean images must carry the
    same file names / keys as the noisy ones.

    Args:
        opt (dict): Config for train / val datasets. It contains:
            dataroot_lq (str): Folder or LMDB of noisy images.
            dataroot_gt (str, optional): Folder or LMDB of the clean images.
            io_backend (dict): ``{type: disk | lmdb}``.
            meta_info_file (str, optional): Restrict a folder to the names in this file (first column).
            gt_size (int, optional): Patch size of random crops in the train phase; None keeps whole images.
            use_hflip / use_rot (bool): Random flips and rotations in the train phase. Default: False.
            color (str): ``rgb`` (default) or ``gray``.
            noise_std_file (str, optional): JSON ``{name: value}`` with the known noise of each image, for models
                whose noise covariance comes from the dataset. Either every value is a standard deviation on the
                0-255 scale (a number, or one per channel), yielded as ``noise_std`` (C,) on the [0, 1] scale; or
                every value is a noise-level function ``{"a": ..., "b": ...}`` (variance ``a * x + b`` on the
                [0, 1] scale, scalars or one per channel), yielded as ``noise_nlf`` (2, C).
            dataroot_noise_map (str, optional): Folder of ``<image stem>.npy`` per-pixel noise standard
                deviations (H, W) or (H, W, C) on the 0-255 scale, cropped and augmented with the image and
                yielded as ``noise_std_map`` (C or 1, H, W) on the [0, 1] scale.
            seed (int): Seed of the per-sample augmentation RNG. Default: 0.
            phase (str): ``train`` or ``val`` (set by BasicSR).
    """

    def __init__(self, opt):
        super().__init__()
        self.opt = opt
        self.io_backend_opt = dict(opt.get('io_backend') or {'type': 'disk'})
        self.backend = self.io_backend_opt.pop('type')
        self.file_client = None
        self.grey = opt.get('color', 'rgb') == 'gray'
        if opt.get('color', 'rgb') not in ('rgb', 'gray'):
            raise ValueError(f'{opt.get("name")}: color must be rgb or gray, got {opt["color"]!r}.')
        self.train = opt.get('phase', 'train') == 'train'
        self.patch_size = opt.get('gt_size') if self.train else None
        self.lq_folder = opt['dataroot_lq']
        self.gt_folder = opt.get('dataroot_gt')
        roots = [r for r in (self.lq_folder, self.gt_folder) if r is not None]
        for root in roots:
            if not osp.exists(root):
                raise FileNotFoundError(f'Dataset {opt.get("name")}: dataroot {root} does not exist.')

        if self.backend == 'lmdb':
            self.io_backend_opt['db_paths'] = roots
            self.io_backend_opt['client_keys'] = ['lq', 'gt'][:len(roots)]
            self.keys = [osp.basename(p) for p in paths_from_lmdb(self.lq_folder)]
            self.sizes = _lmdb_sizes(self.lq_folder)
            if self.gt_folder is not None:
                missing = sorted(set(self.keys) - set(_lmdb_sizes(self.gt_folder)))
                if missing:
                    raise ValueError(f'{self.gt_folder} lacks keys of {self.lq_folder}: {missing[:5]}')
        else:
            self.keys = self._folder_names()
            self.sizes = {}
            for name in self.keys:
                self.sizes[name] = self._header_size(osp.join(self.lq_folder, name))
                if self.gt_folder is not None:
                    self._header_size(osp.join(self.gt_folder, name))
        if not self.keys:
            raise ValueError(f'Dataset {opt.get("name")}: no images found in {self.lq_folder}.')
        if self.patch_size is not None:
            for name, (h, w, *_) in self.sizes.items():
                if h < self.patch_size or w < self.patch_size:
                    raise ValueError(f'Image {osp.join(self.lq_folder, name)} ({h}x{w}) is smaller than the '
                                     f'patch size gt_size={self.patch_size}.')
        self.noise_std, self.noise_key = self._load_noise_table(opt.get('noise_std_file'))
        self.noise_map_folder = opt.get('dataroot_noise_map')
        if self.noise_map_folder is not None:
            missing = [k for k in self.keys if not osp.isfile(self._noise_map_path(k))]
            if missing:
                raise FileNotFoundError(f'dataroot_noise_map {self.noise_map_folder} has no map for {missing[:5]} '
                                        f'(expected {self._noise_map_path(missing[0])}).')
        self.seed = int(opt.get('seed', 0))

    def _folder_names(self):
        if self.opt.get('meta_info_file'):
            with open(self.opt['meta_info_file']) as f:
                names = [line.split(' ')[0].strip() for line in f if line.strip()]
            for name in names:
                if not osp.isfile(osp.join(self.lq_folder, name)):
                    raise FileNotFoundError(f'{self.opt["meta_info_file"]} lists {name}, which is not in '
                                            f'{self.lq_folder}.')
            return names
        return sorted(f for f in os.listdir(self.lq_folder) if f.lower().endswith(IMG_EXTENSIONS))

    @staticmethod
    def _header_size(path):
        if not osp.isfile(path):
            raise FileNotFoundError(f'Image {path} does not exist.')
        try:
            with Image.open(path) as img:
                w, h = img.size
        except Exception as e:  # noqa: BLE001 (PIL raises several types for a bad file)
            raise ValueError(f'Cannot read image {path}: {e}') from e
        return h, w

    def _load_noise_table(self, path):
        if path is None:
            return None, None
        with open(path) as f:
            table = json.load(f)
        values = {}
        for key in self.keys:
            value = table.get(key, table.get(osp.splitext(key)[0]))
            if value is None:
                raise ValueError(f'noise_std_file {path} has no entry for {key}.')
            values[key] = value
        kinds = {isinstance(v, dict) for v in values.values()}
        if len(kinds) > 1:
            raise ValueError(f'noise_std_file {path} mixes standard deviations and noise-level functions.')
        channels = 1 if self.grey else 3

        def per_channel(value, key):
            t = torch.as_tensor(value, dtype=torch.float32).reshape(-1)
            if t.numel() not in (1, channels):
                raise ValueError(f'noise_std_file {path}: {key} has {t.numel()} values for {channels}-channel images.')
            return t.expand(channels).clone()

        if kinds == {True}:
            def nlf(key, v):
                if set(v) != {'a', 'b'}:
                    raise ValueError(f'noise_std_file {path}: the noise-level function of {key} needs keys a and b.')
                return torch.stack([per_channel(v['a'], key), per_channel(v['b'], key)])
            return {k: nlf(k, v) for k, v in values.items()}, 'noise_nlf'
        return {k: per_channel(v, k) / 255. for k, v in values.items()}, 'noise_std'

    def _noise_map_path(self, name):
        return osp.join(self.noise_map_folder, osp.splitext(name)[0] + '.npy')

    def _read(self, name, client_key, folder):
        path = osp.join(folder, name)
        key = name if self.backend == 'lmdb' else path
        return decode_image(self.file_client.get(key, client_key), path, self.grey)

    def __getitem__(self, index):
        if self.file_client is None:
            self.file_client = FileClient(self.backend, **self.io_backend_opt)
        name = self.keys[index % len(self.keys)]
        imgs = [self._read(name, 'lq', self.lq_folder)]
        if self.gt_folder is not None:
            imgs.append(self._read(name, 'gt', self.gt_folder))
            if imgs[1].shape != imgs[0].shape:
                raise ValueError(f'Noisy {osp.join(self.lq_folder, name)} and clean {osp.join(self.gt_folder, name)} '
                                 f'differ in size: {imgs[0].shape} vs {imgs[1].shape}.')
        if self.noise_map_folder is not None:
            noise_map = np.load(self._noise_map_path(name)).astype(np.float32) / 255.
            noise_map = noise_map[..., None] if noise_map.ndim == 2 else noise_map
            if noise_map.shape[:2] != imgs[0].shape[:2]:
                raise ValueError(f'Noise map {self._noise_map_path(name)} is {noise_map.shape[:2]}, its image '
                                 f'{imgs[0].shape[:2]}.')
            imgs.append(noise_map)
        if self.train:
            # The draw id from basicsr_noise's sampler makes augmentation identical after a resume.
            rng = np.random.default_rng([self.seed, getattr(index, 'draw', int(index)), int(index)])
            if self.patch_size is not None:
                h, w = imgs[0].shape[:2]
                top = int(rng.integers(0, h - self.patch_size + 1))
                left = int(rng.integers(0, w - self.patch_size + 1))
                imgs = [img[top:top + self.patch_size, left:left + self.patch_size] for img in imgs]
            imgs = augment_dihedral(imgs, self.opt.get('use_hflip', False), self.opt.get('use_rot', False), rng)
        if self.noise_map_folder is not None:
            noise_map = torch.from_numpy(imgs.pop().transpose(2, 0, 1).copy())
        tensors = img2tensor(imgs, bgr2rgb=not self.grey, float32=True)
        path = osp.join(self.lq_folder, name)
        out = {'lq': tensors[0], 'lq_path': path}
        if self.gt_folder is not None:
            out['gt'] = tensors[1]
            out['gt_path'] = osp.join(self.gt_folder, name)
        if self.noise_std is not None:
            out[self.noise_key] = self.noise_std[name]
        if self.noise_map_folder is not None:
            out['noise_std_map'] = noise_map  # channel order as stored (RGB)
        return out

    def __len__(self):
        return len(self.keys)
