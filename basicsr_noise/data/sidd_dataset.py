import numpy as np
import os
import re
from basicsr.utils import img2tensor
from basicsr.utils.registry import DATASET_REGISTRY
from os import path as osp
from torch.utils import data as data

from basicsr_noise.utils.errors import InputError
from .image_source import ImageSource, augment_dihedral, random_crop, sample_rng

SIDD_NOISY = re.compile(r'NOISY_SRGB_(\d+)\.png$', re.IGNORECASE)


def sidd_medium_pairs(root):
    """``[(noisy, clean)]`` relative paths of a SIDD-Medium sRGB ``Data`` folder (``<scene>/NOISY_SRGB_010.PNG``)."""
    pairs = []
    for scene in sorted(os.listdir(root)):
        folder = osp.join(root, scene)
        if not osp.isdir(folder):
            continue
        for name in sorted(os.listdir(folder)):
            if SIDD_NOISY.search(name):
                clean = SIDD_NOISY.sub(lambda m: f'GT_SRGB_{m.group(1)}' + name[-4:], name)
                if not osp.isfile(osp.join(folder, clean)):
                    raise FileNotFoundError(f'SIDD: {osp.join(folder, name)} has no clean image {clean}.')
                pairs.append((osp.join(scene, name), osp.join(scene, clean)))
    if not pairs:
        raise FileNotFoundError(f'SIDD: no <scene>/*NOISY_SRGB_*.PNG images under {root}.')
    return pairs


@DATASET_REGISTRY.register()
class SIDDMediumDataset(data.Dataset):
    """Real noisy/clean pairs in the SIDD-Medium sRGB layout (Abdelhamed et al., CVPR 2018).

    Reads ``<dataroot>/<scene>/*_NOISY_SRGB_*.PNG`` and the matching ``*_GT_SRGB_*.PNG`` directly. For training
    at scale, crop them into a pair of LMDBs first (``basicsr-noise prepare sidd``) and use
    ``NoisyImageDataset``: whole SIDD images are 12-16 megapixels.

    Args:
        opt (dict): ``dataroot`` (the ``Data`` folder), ``gt_size``, ``use_hflip``, ``use_rot``, ``seed``.
    """

    def __init__(self, opt):
        super().__init__()
        self.opt = opt
        if not osp.isdir(opt.get('dataroot') or ''):
            raise FileNotFoundError(f'Dataset {opt.get("name")}: dataroot {opt.get("dataroot")} does not exist.')
        self.pairs = sidd_medium_pairs(opt['dataroot'])
        self.source = ImageSource(
            opt['dataroot'],
            names=[p for pair in self.pairs for p in pair],
            what=f'Dataset {opt.get("name")}: dataroot')
        self.train = opt.get('phase', 'train') == 'train'
        if self.train and opt.get('gt_size'):
            self.source.check_min_size(opt['gt_size'])
        self.seed = int(opt.get('seed', 0))

    def __len__(self):
        return len(self.pairs)

    def __getitem__(self, index):
        noisy_name, clean_name = self.pairs[index % len(self.pairs)]
        imgs = [self.source.read(noisy_name), self.source.read(clean_name)]
        if self.train:
            rng = sample_rng(self.seed, index)
            if self.opt.get('gt_size'):
                imgs = random_crop(imgs, self.opt['gt_size'], rng)
            imgs = augment_dihedral(imgs, self.opt.get('use_hflip', False), self.opt.get('use_rot', False), rng)
        lq, gt = img2tensor(imgs, bgr2rgb=True, float32=True)
        return {'lq': lq, 'gt': gt, 'lq_path': self.source.path(noisy_name), 'gt_path': self.source.path(clean_name)}


def load_sidd_blocks(path, key):
    """The ``(scenes, blocks, 256, 256, 3)`` uint8 array of a SIDD validation or benchmark ``.mat`` file."""
    import scipy.io
    if not osp.isfile(path):
        raise FileNotFoundError(f'SIDD blocks: {path} does not exist.')
    try:
        content = scipy.io.loadmat(path)
    except (ValueError, NotImplementedError) as e:
        raise InputError(f'SIDD blocks: cannot read {path} as a MATLAB file: {e}') from e
    if key not in content:
        found = [k for k in content if not k.startswith('__')]
        raise InputError(f'SIDD blocks: {path} has no variable {key!r} (it has {found}).')
    blocks = np.asarray(content[key])
    if blocks.ndim != 5 or blocks.shape[-1] != 3:
        raise InputError(f'SIDD blocks: {key} in {path} has shape {blocks.shape}, expected (N, B, H, W, 3).')
    return blocks


@DATASET_REGISTRY.register()
class SIDDValidationDataset(data.Dataset):
    """The SIDD sRGB validation blocks (40 scenes x 32 blocks of 256x256) from the official ``.mat`` files.

    Args:
        opt (dict): ``noisy_mat`` (``ValidationNoisyBlocksSrgb.mat``) and optionally ``gt_mat``
            (``ValidationGtBlocksSrgb.mat``); ``noisy_key`` / ``gt_key`` override the variable names.
    """

    def __init__(self, opt):
        super().__init__()
        self.opt = opt
        self.noisy = load_sidd_blocks(opt.get('noisy_mat'), opt.get('noisy_key', 'ValidationNoisyBlocksSrgb'))
        self.gt = None
        if opt.get('gt_mat'):
            self.gt = load_sidd_blocks(opt['gt_mat'], opt.get('gt_key', 'ValidationGtBlocksSrgb'))
            if self.gt.shape != self.noisy.shape:
                raise InputError(f'SIDD blocks: noisy {self.noisy.shape} and clean {self.gt.shape} differ.')
        self.num_blocks = self.noisy.shape[1]

    def __len__(self):
        return self.noisy.shape[0] * self.num_blocks

    def __getitem__(self, index):
        scene, block = divmod(int(index), self.num_blocks)
        name = f'{scene:02d}_{block:02d}'
        out = {'lq': img2tensor(self.noisy[scene, block].astype(np.float32) / 255., bgr2rgb=False), 'lq_path': name}
        if self.gt is not None:
            out['gt'] = img2tensor(self.gt[scene, block].astype(np.float32) / 255., bgr2rgb=False)
            out['gt_path'] = name
        return out
