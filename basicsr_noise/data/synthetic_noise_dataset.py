import numpy as np
import re
import torch
from basicsr.utils import img2tensor
from basicsr.utils.registry import DATASET_REGISTRY
from os import path as osp
from torch.utils import data as data

from basicsr_noise.compat import SampleIndex
from basicsr_noise.noise import build_noise
from basicsr_noise.utils.errors import InputError
from .image_source import ImageSource, augment_dihedral, backend_of, color_option, random_crop, sample_rng

SIDD_CLASS = re.compile(r'_(GP|IP|S6|N6|G4)_(\d{5})_')
REFERENCE_GROUPS = ('iso', 'camera_iso')


def _crop_augment(opt, imgs, rng, train):
    if train and opt.get('gt_size'):
        imgs = random_crop(imgs, opt['gt_size'], rng)
    if train:
        imgs = augment_dihedral(imgs, opt.get('use_hflip', False), opt.get('use_rot', False), rng)
    return imgs


def _generator(rng):
    return torch.Generator().manual_seed(int(rng.integers(2**62)))


@DATASET_REGISTRY.register()
class SyntheticNoiseDataset(data.Dataset):
    """Clean images with noise from the noise library, for supervised denoisers and noise generators.

    The noise is drawn here, in the DataLoader worker, or, with ``synthesize_on_device: true``, left to the
    model's ``feed_data`` (batched on the device, from the same ``noise_opt``), in which case only ``gt`` is
    yielded. Validation noise is seeded by image, so every validation sees the same noisy images.

    Args:
        opt (dict): Config. It contains:
            dataroot_gt (str): Folder or LMDB of clean images. ``io_backend``, ``meta_info_file``, ``color``.
            noise_opt (dict): A noise model of ``basicsr_noise.noise`` (``{type: CameraNoise, ...}``).
            synthesize_on_device (bool): Leave the noise to the model. Default: False.
            gt_size, use_hflip, use_rot: Train-phase crops and flips. seed (int): Default: 0.
    """

    def __init__(self, opt):
        super().__init__()
        self.opt = opt
        self.train = opt.get('phase', 'train') == 'train'
        self.gt = ImageSource(
            opt.get('dataroot_gt'),
            backend_of(opt),
            opt.get('meta_info_file'),
            color_option(opt),
            what=f'Dataset {opt.get("name")}: dataroot_gt')
        if self.train and opt.get('gt_size'):
            self.gt.check_min_size(opt['gt_size'])
        if 'noise_opt' not in opt:
            raise InputError(f'Dataset {opt.get("name")}: noise_opt is missing.')
        self.noise = build_noise(opt['noise_opt'])
        self.on_device = bool(opt.get('synthesize_on_device', False))
        self.seed = int(opt.get('seed', 0))

    def __len__(self):
        return len(self.gt)

    def __getitem__(self, index):
        name = self.gt.names[index % len(self.gt)]
        rng = sample_rng(self.seed, index if self.train else int(index))
        img = _crop_augment(self.opt, [self.gt.read(name)], rng, self.train)[0]
        gt = img2tensor(img, bgr2rgb=not self.gt.grey, float32=True)
        out = {'gt': gt, 'gt_path': self.gt.path(name), 'lq_path': self.gt.path(name)}
        if not self.on_device:
            result = self.noise(gt[None], _generator(rng))
            out['lq'] = result.noisy[0]
            if result.std is not None:
                out['noise_std_map'] = result.std.expand_as(result.noisy)[0].clone()
        return out


@DATASET_REGISTRY.register()
class UnpairedCleanNoisyDataset(data.Dataset):
    """Noisy images with unrelated clean images (DBSN's distillation, unpaired GANs): ``lq`` and ``gt`` differ.

    Args:
        opt (dict): ``dataroot_lq`` (noisy) and ``dataroot_gt`` (clean) folders or LMDBs, each with its own
            names; ``io_backend``, ``color``, ``gt_size``, ``use_hflip``, ``use_rot``, ``seed``.
            ``noise_opt`` (optional): a noise model of ``basicsr_noise.noise``; the ``dataroot_lq`` images are then
            clean and receive fresh noise in every draw (synthetic experiments without writing noisy copies).
    """

    def __init__(self, opt):
        super().__init__()
        self.opt = opt
        grey, backend = color_option(opt), backend_of(opt)
        self.train = opt.get('phase', 'train') == 'train'
        self.lq = ImageSource(
            opt.get('dataroot_lq'),
            backend,
            opt.get('meta_info_file_lq'),
            grey,
            what=f'Dataset {opt.get("name")}: dataroot_lq')
        self.gt = ImageSource(
            opt.get('dataroot_gt'),
            backend,
            opt.get('meta_info_file_gt'),
            grey,
            what=f'Dataset {opt.get("name")}: dataroot_gt')
        if self.train and opt.get('gt_size'):
            self.lq.check_min_size(opt['gt_size'])
            self.gt.check_min_size(opt['gt_size'])
        self.seed = int(opt.get('seed', 0))
        self.noise = build_noise(opt['noise_opt']) if opt.get('noise_opt') else None

    def __len__(self):
        return len(self.lq)

    def __getitem__(self, index):
        rng = sample_rng(self.seed, index)
        lq_name = self.lq.names[index % len(self.lq)]
        gt_name = self.gt.names[int(rng.integers(len(self.gt)))]
        lq = _crop_augment(self.opt, [self.lq.read(lq_name)], rng, self.train)[0]
        gt = _crop_augment(self.opt, [self.gt.read(gt_name)], rng, self.train)[0]
        lq, gt = img2tensor([lq, gt], bgr2rgb=not self.lq.grey, float32=True)
        if self.noise is not None:
            lq = self.noise(lq[None], _generator(rng)).noisy[0]
        return {'lq': lq, 'gt': gt, 'lq_path': self.lq.path(lq_name), 'gt_path': self.gt.path(gt_name)}


def read_reference_classes(path):
    """``{name: class}`` from a text file of ``<name> <class>`` lines (a name with or without its extension)."""
    if not osp.isfile(path):
        raise InputError(f'reference_class_file {path} does not exist.')
    classes = {}
    for number, line in enumerate(open(path), 1):
        if line.strip():
            parts = line.split()
            if len(parts) != 2:
                raise InputError(f'{path} line {number}: expected "<name> <class>", got {line.strip()!r}.')
            classes[parts[0]] = parts[1]
    return classes


def sidd_noise_class(name):
    """``(camera, ISO)`` from a SIDD name such as ``0001_001_S6_00100_00060_3200_L``, or None."""
    match = SIDD_CLASS.search(f'_{name}_')
    return (match.group(1), match.group(2)) if match else None


@DATASET_REGISTRY.register()
class NoiseReferenceDataset(data.Dataset):
    """Clean, noisy and a second noisy image of the same noise class, for reference-conditioned noise generators.

    NoiseTransfer (Lee and Kim, ACCV 2022) conditions its generator on one noisy reference of the target noise.
    Two modes:

    * synthetic (``noise_opt`` given): the target and the reference are two different clean images with noise of
      the *same* drawn parameters (both are noised as one sample, side by side, then split);
    * real (``dataroot_lq`` given): noisy/clean pairs with SIDD names; the reference is another noisy image of the
      same ISO (``reference_group: iso``, the release's grouping) or of the same camera and ISO (``camera_iso``),
      parsed from the name (``_S6_00100_``). The release's augmentations, each off unless set: ``alpha_prob``
      (the noise of target and reference scaled by one ``alpha ~ U(alpha_range)``, default [0.8, 1], by
      ``alpha * noisy + (1 - alpha) * clean``), ``cutmix_prob`` (a second aligned crop of the same pair, sides
      drawn in [gt_size / 4, 3 gt_size / 4), flipped/rotated and scaled alike, pasted into clean and noisy; rotated
      whole, so without the release's black corners) and ``dither`` (U(-0.5, 0.5) / 255 added where the noise is
      not zero). Other names: ``reference_class_file``, lines ``<name> <class>``, groups them instead (e.g. the
      camera setting of each simulated tile).

    Yields ``gt``, ``lq`` and ``ref`` (and their paths).
    """

    def __init__(self, opt):
        super().__init__()
        self.opt = opt
        grey, backend = color_option(opt), backend_of(opt)
        self.train = opt.get('phase', 'train') == 'train'
        self.gt = ImageSource(
            opt.get('dataroot_gt'),
            backend,
            opt.get('meta_info_file'),
            grey,
            what=f'Dataset {opt.get("name")}: dataroot_gt')
        if self.train and opt.get('gt_size'):
            self.gt.check_min_size(opt['gt_size'])
        self.seed = int(opt.get('seed', 0))
        if ('noise_opt' in opt) == ('dataroot_lq' in opt):
            raise InputError(f'Dataset {opt.get("name")}: give noise_opt (synthetic) or dataroot_lq (real), not both.')
        self.noise = build_noise(opt['noise_opt']) if 'noise_opt' in opt else None
        self.lq = None
        if self.noise is None:
            self.lq = ImageSource(
                opt['dataroot_lq'],
                backend,
                grey=grey,
                names=self.gt.names,
                what=f'Dataset {opt.get("name")}: dataroot_lq')
            self.group = opt.get('reference_group', 'iso')
            if self.group not in REFERENCE_GROUPS:
                raise InputError(f'Dataset {opt.get("name")}: reference_group must be one of {REFERENCE_GROUPS}, got '
                                 f'{self.group!r}.')
            self.classes, self.class_of = {}, {}
            given = read_reference_classes(opt['reference_class_file']) if opt.get('reference_class_file') else None
            for name in self.gt.names:
                if given is not None:
                    noise_class = given.get(name, given.get(osp.splitext(name)[0]))
                    if noise_class is None:
                        raise InputError(f'Dataset {opt.get("name")}: {name} has no line in reference_class_file '
                                         f'{opt["reference_class_file"]}.')
                    self.class_of[name] = noise_class
                    self.classes.setdefault(noise_class, []).append(name)
                    continue
                noise_class = sidd_noise_class(name)
                if noise_class is None:
                    raise InputError(f'Dataset {opt.get("name")}: cannot read the camera and ISO from the SIDD name '
                                     f'{name} (expected a scene name such as 0001_001_S6_00100_00060_3200_L), needed '
                                     'to group same-noise references.')
                self.class_of[name] = self._group_key(noise_class)
                self.classes.setdefault(self.class_of[name], []).append(name)
        self.alpha_prob, self.cutmix_prob = float(opt.get('alpha_prob', 0)), float(opt.get('cutmix_prob', 0))
        self.alpha_range = [float(v) for v in opt.get('alpha_range', (0.8, 1.0))]
        self.dither = bool(opt.get('dither', False))

    def _group_key(self, noise_class):
        return noise_class[1] if self.group == 'iso' else noise_class

    def __len__(self):
        return len(self.gt)

    def __getitem__(self, index):
        rng = sample_rng(self.seed, index)
        name = self.gt.names[index % len(self.gt)]
        if self.noise is not None:
            ref_name = self.gt.names[int(rng.integers(len(self.gt)))]
            gt, ref_clean = (_crop_augment(self.opt, [self.gt.read(n)], rng, self.train)[0] for n in (name, ref_name))
            gt, ref_clean = img2tensor([gt, ref_clean], bgr2rgb=not self.gt.grey, float32=True)
            if gt.shape != ref_clean.shape:
                raise InputError('NoiseReferenceDataset (synthetic) needs images of one size: set gt_size.')
            both = self.noise(torch.cat([gt, ref_clean], -1)[None], _generator(rng)).noisy[0]
            lq, ref = both[..., :gt.shape[-1]], both[..., gt.shape[-1]:]
            ref_path, lq_path = self.gt.path(ref_name), self.gt.path(name)
        else:
            same = self.classes[self.class_of[name]]
            others = [n for n in same if n != name] or same
            ref_name = others[int(rng.integers(len(others)))]
            alpha = None
            if self.train and self.alpha_prob > 0 and rng.random() < self.alpha_prob:
                alpha = float(rng.uniform(*self.alpha_range))
            gt, lq = self._real_pair(name, rng, alpha)
            ref = self._real_noisy(ref_name, rng, alpha)
            gt, lq, ref = img2tensor([gt, lq, ref], bgr2rgb=not self.gt.grey, float32=True)
            ref_path, lq_path = self.lq.path(ref_name), self.lq.path(name)
        return {
            'gt': gt,
            'lq': lq.contiguous(),
            'ref': ref.contiguous(),
            'gt_path': self.gt.path(name),
            'lq_path': lq_path,
            'ref_path': ref_path
        }

    def _real_noisy(self, name, rng, alpha):
        """The reference: the noisy side of :meth:`_real_pair`, its clean image read only when an augmentation
        needs it (the same draws either way)."""
        if self.train and (alpha is not None or self.cutmix_prob > 0 or self.dither):
            return self._real_pair(name, rng, alpha)[1]
        return _crop_augment(self.opt, [self.lq.read(name)], rng, self.train)[0]

    def _real_pair(self, name, rng, alpha):
        """An augmented (clean, noisy) crop of a real pair: crop and flips, then alpha, CutMix and dither."""
        full = [self.gt.read(name), self.lq.read(name)]
        clean, noisy = _crop_augment(self.opt, full, rng, self.train)
        if not self.train:
            return clean, noisy
        if alpha is not None:
            noisy = alpha * noisy + (1 - alpha) * clean
        if self.cutmix_prob > 0 and rng.random() < self.cutmix_prob:
            clean, noisy = self._cutmix(full, clean.copy(), noisy.copy(), rng, alpha)
        if self.dither:
            noisy_area = np.abs(noisy - clean).sum(-1, keepdims=True) > 1e-3
            noisy = np.clip(noisy + noisy_area * rng.uniform(-0.5, 0.5, noisy.shape) / 255., 0, 1)
        return clean.astype(np.float32), noisy.astype(np.float32)

    def _cutmix(self, full, clean, noisy, rng, alpha):
        size = clean.shape[0]
        ph, pw = (int(v) for v in rng.integers(size // 4, 3 * size // 4, size=2))
        h, w = full[0].shape[:2]
        top, left = int(rng.integers(0, h - ph + 1)), int(rng.integers(0, w - pw + 1))
        piece = [img[top:top + ph, left:left + pw] for img in full]
        piece_clean, piece_noisy = augment_dihedral(piece, self.opt.get('use_hflip', False),
                                                    self.opt.get('use_rot', False), rng)
        if alpha is not None:
            piece_noisy = alpha * piece_noisy + (1 - alpha) * piece_clean
        ph, pw = piece_clean.shape[:2]  # a rotation swaps the sides
        top, left = int(rng.integers(0, size - ph + 1)), int(rng.integers(0, clean.shape[1] - pw + 1))
        clean[top:top + ph, left:left + pw] = piece_clean
        noisy[top:top + ph, left:left + pw] = piece_noisy
        return clean, noisy


@DATASET_REGISTRY.register()
class NoiseReferenceMixDataset(data.Dataset):
    """Several ``NoiseReferenceDataset`` branches drawn at fixed ratios, e.g. NoiseTransfer's synthetic families and
    real SIDD pairs (Lee and Kim, ACCV 2022). Each index draws its branch (``ratios``, default proportional to the
    branches' lengths, which is the release's ``ConcatDataset`` of 800 synthetic and 320 SIDD items) and an item of
    it, both seeded from the sample, so a resumed run draws the same stream.

    Args:
        opt (dict): Config. It contains:
            branches (list[dict]): ``NoiseReferenceDataset`` options (``phase`` and ``seed`` are inherited).
            ratios (list[float] | None): Branch weights.
            length (int | None): Items per epoch. Default: the sum of the branches' lengths.
            seed (int): Default: 0.
    """

    def __init__(self, opt):
        super().__init__()
        branches = opt.get('branches')
        if not isinstance(branches, (list, tuple)) or not branches:
            raise InputError(f'Dataset {opt.get("name")}: branches must be a non-empty list of NoiseReferenceDataset '
                             'options.')
        self.seed = int(opt.get('seed', 0))
        self.branches = []
        for i, branch in enumerate(branches):
            branch = dict(branch)
            branch.pop('type', None)
            branch.setdefault('name', f'{opt.get("name")}.branches[{i}]')
            branch.setdefault('phase', opt.get('phase', 'train'))
            branch.setdefault('seed', self.seed + i)
            self.branches.append(NoiseReferenceDataset(branch))
        ratios = opt.get('ratios') or [len(b) for b in self.branches]
        ratios = [float(r) for r in ratios]
        if len(ratios) != len(self.branches) or min(ratios) < 0 or sum(ratios) <= 0:
            raise InputError(f'Dataset {opt.get("name")}: ratios must be {len(self.branches)} non-negative weights, '
                             f'got {ratios}.')
        self.ratios = np.asarray(ratios) / sum(ratios)
        self.length = int(opt.get('length') or sum(len(b) for b in self.branches))

    def __len__(self):
        return self.length

    def __getitem__(self, index):
        rng = sample_rng(self.seed, index)
        branch = self.branches[int(rng.choice(len(self.branches), p=self.ratios))]
        item = int(rng.integers(len(branch)))
        return branch[SampleIndex(item, int(rng.integers(2**62)))]
