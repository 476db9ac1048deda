import json
import numpy as np
import torch
from basicsr.utils import img2tensor
from basicsr.utils.registry import DATASET_REGISTRY
from os import path as osp
from torch.utils import data as data

from basicsr_noise.utils.errors import InputError
from .image_source import ImageSource, augment_dihedral, backend_of, color_option, random_crop, sample_rng


def pair_names(meta_info_file, names):
    """``{noisy name: clean name}``: the fourth column of a ``meta_info_file`` line (``<noisy> (h,w,c) 1 <clean>``,
    as ``basicsr-noise generate`` writes), else the same name."""
    pairs = {}
    if meta_info_file:
        with open(meta_info_file) as f:
            for line in f:
                fields = line.split()
                if len(fields) >= 4:
                    pairs[fields[0]] = fields[3]
    return {name: pairs.get(name, name) for name in names}


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
            meta_info_file (str, optional): Restrict a folder to the names in this file (first column). A fourth
                column names each noisy image's clean image (``basicsr-noise generate --num N`` writes it), else
                the clean image has the noisy one's name.
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
            dataroot_clean (str, optional): Folder or LMDB of further clean images (any names, e.g. another
                dataset), for models that mix pairs generated from them into the real pairs
                (``SynthNoiseDenoiserModel``'s ``mixing``): each item also yields ``clean``, a crop of one of them
                drawn with the item's RNG (train phase, ``gt_size`` required). ``meta_info_file_clean`` restricts a
                folder.
            seed (int): Seed of the per-sample augmentation RNG. Default: 0.
            phase (str): ``train`` or ``val`` (set by BasicSR).
    """

    def __init__(self, opt):
        super().__init__()
        self.opt = opt
        self.grey = color_option(opt)
        self.train = opt.get('phase', 'train') == 'train'
        self.patch_size = opt.get('gt_size') if self.train else None
        backend = backend_of(opt)
        self.lq = ImageSource(
            opt.get('dataroot_lq'),
            backend,
            opt.get('meta_info_file'),
            self.grey,
            what=f'Dataset {opt.get("name")}: dataroot_lq')
        self.keys = self.lq.names
        self.gt_name = pair_names(opt.get('meta_info_file'), self.keys)
        self.gt = None
        if opt.get('dataroot_gt') is not None:
            self.gt = ImageSource(
                opt['dataroot_gt'],
                backend,
                grey=self.grey,
                names=sorted(set(self.gt_name.values())),
                what=f'Dataset {opt.get("name")}: dataroot_gt')
        if self.patch_size is not None:
            self.lq.check_min_size(self.patch_size)
        self.noise_std, self.noise_key = self._load_noise_table(opt.get('noise_std_file'))
        self.noise_map_folder = opt.get('dataroot_noise_map')
        if self.noise_map_folder is not None:
            missing = [k for k in self.keys if not osp.isfile(self._noise_map_path(k))]
            if missing:
                raise FileNotFoundError(f'dataroot_noise_map {self.noise_map_folder} has no map for {missing[:5]} '
                                        f'(expected {self._noise_map_path(missing[0])}).')
        self.seed = int(opt.get('seed', 0))
        self.clean = None
        if opt.get('dataroot_clean') is not None and self.train:
            if self.patch_size is None:
                raise InputError(f'Dataset {opt.get("name")}: dataroot_clean needs gt_size (its crops join the '
                                 'batch of the pairs\' crops).')
            self.clean = ImageSource(
                opt['dataroot_clean'],
                backend,
                opt.get('meta_info_file_clean'),
                self.grey,
                what=f'Dataset {opt.get("name")}: dataroot_clean')
            self.clean.check_min_size(self.patch_size)

    def _load_noise_table(self, path):
        if path is None:
            return None, None
        with open(path) as f:
            table = json.load(f)
        values = {}
        for key in self.keys:
            value = table.get(key, table.get(osp.splitext(key)[0]))
            if value is None:
                raise InputError(f'noise_std_file {path} has no entry for {key}.')
            values[key] = value
        kinds = {isinstance(v, dict) for v in values.values()}
        if len(kinds) > 1:
            raise InputError(f'noise_std_file {path} mixes standard deviations and noise-level functions.')
        channels = 1 if self.grey else 3

        def per_channel(value, key):
            t = torch.as_tensor(value, dtype=torch.float32).reshape(-1)
            if t.numel() not in (1, channels):
                raise InputError(f'noise_std_file {path}: {key} has {t.numel()} values for {channels}-channel images.')
            return t.expand(channels).clone()

        if kinds == {True}:

            def nlf(key, v):
                if set(v) != {'a', 'b'}:
                    raise InputError(f'noise_std_file {path}: the noise-level function of {key} needs keys a and b.')
                return torch.stack([per_channel(v['a'], key), per_channel(v['b'], key)])

            return {k: nlf(k, v) for k, v in values.items()}, 'noise_nlf'
        return {k: per_channel(v, k) / 255. for k, v in values.items()}, 'noise_std'

    def _noise_map_path(self, name):
        return osp.join(self.noise_map_folder, osp.splitext(name)[0] + '.npy')

    def __getitem__(self, index):
        name = self.keys[index % len(self.keys)]
        imgs = [self.lq.read(name)]
        if self.gt is not None:
            imgs.append(self.gt.read(self.gt_name[name]))
            if imgs[1].shape != imgs[0].shape:
                raise InputError(f'Noisy {self.lq.path(name)} and clean {self.gt.path(self.gt_name[name])} differ '
                                 f'in size: {imgs[0].shape} vs {imgs[1].shape}.')
        if self.noise_map_folder is not None:
            noise_map = np.load(self._noise_map_path(name)).astype(np.float32) / 255.
            noise_map = noise_map[..., None] if noise_map.ndim == 2 else noise_map
            if noise_map.shape[:2] != imgs[0].shape[:2]:
                raise InputError(f'Noise map {self._noise_map_path(name)} is {noise_map.shape[:2]}, its image '
                                 f'{imgs[0].shape[:2]}.')
            imgs.append(noise_map)
        if self.train:
            rng = sample_rng(self.seed, index)  # the sampler's draw id makes augmentation identical after a resume
            if self.patch_size is not None:
                imgs = random_crop(imgs, self.patch_size, rng)
            imgs = augment_dihedral(imgs, self.opt.get('use_hflip', False), self.opt.get('use_rot', False), rng)
        if self.noise_map_folder is not None:
            noise_map = torch.from_numpy(imgs.pop().transpose(2, 0, 1).copy())
        tensors = img2tensor(imgs, bgr2rgb=not self.grey, float32=True)
        out = {'lq': tensors[0], 'lq_path': self.lq.path(name)}
        if self.gt is not None:
            out['gt'] = tensors[1]
            out['gt_path'] = self.gt.path(self.gt_name[name])
        if self.noise_std is not None:
            out[self.noise_key] = self.noise_std[name]
        if self.noise_map_folder is not None:
            out['noise_std_map'] = noise_map  # channel order as stored (RGB)
        if self.clean is not None:
            clean_name = self.clean.names[int(rng.integers(len(self.clean)))]
            clean = random_crop([self.clean.read(clean_name)], self.patch_size, rng)
            clean = augment_dihedral(clean, self.opt.get('use_hflip', False), self.opt.get('use_rot', False), rng)
            out['clean'] = img2tensor(clean, bgr2rgb=not self.grey, float32=True)[0]
            out['clean_path'] = self.clean.path(clean_name)
        return out

    def __len__(self):
        return len(self.keys)
