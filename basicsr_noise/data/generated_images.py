"""Noisy images made from clean ones by a noise model (a trained generator through ``GeneratorNoise``, or any
other), written atomically as a folder or a BasicSR LMDB."""
import torch
from basicsr.utils import img2tensor, tensor2img
from os import path as osp
from tqdm import tqdm

from basicsr_noise.data.image_source import ImageSource
from basicsr_noise.utils.atomic import AtomicOutput, LmdbWriter, lmdb_map_size
from basicsr_noise.utils.errors import InputError
from basicsr_noise.utils.image_io import write_image


def output_names(names, num):
    """The generated images' names: the clean image's name, or ``<stem>_sNNN`` for ``num`` realisations each."""
    stems = [osp.splitext(name)[0] for name in names]
    if num == 1:
        return [[stem] for stem in stems]
    return [[f'{stem}_s{k:03d}' for k in range(num)] for stem in stems]


def generate_noisy_images(noise, input_path, output, num=1, seed=0, device='cpu', overwrite=False):
    """Write ``num`` noisy realisations of every image of ``input_path`` (a folder or ``.lmdb``) to ``output`` (a
    folder, or an LMDB when it ends with ``.lmdb``), with a ``meta_info.txt`` listing them; returns their number.
    A folder's ``meta_info.txt`` names each image's clean source in a fourth column, so that ``NoisyImageDataset``
    (``dataroot_lq`` the output, ``dataroot_gt`` the input, ``meta_info_file`` this file) pairs them directly.

    Image ``i`` (in sorted name order) draws from a ``torch.Generator`` seeded ``seed + i`` on ``device``, so
    each output does not depend on which other images are generated with it.
    """
    source = ImageSource(input_path, 'lmdb' if str(input_path).rstrip('/').endswith('.lmdb') else 'disk',
                         what='--input')
    device = torch.device(device)
    names = output_names(source.names, num)
    to_lmdb = str(output).rstrip('/').endswith('.lmdb')
    if to_lmdb:
        shapes = [(*source.sizes[n][:2], 3) for n in source.names for _ in range(num)]
        writer = LmdbWriter(output, lmdb_map_size(shapes), overwrite)
    else:
        writer = AtomicOutput(output, overwrite)
    count = 0
    with writer as target:
        meta = []
        for index, (name, outs) in enumerate(tqdm(list(zip(source.names, names)), unit='image', desc='Generating')):
            clean = img2tensor(source.read(name), bgr2rgb=True, float32=True)[None].to(device)
            generator = torch.Generator(device=device).manual_seed(seed + index)
            for out_name in outs:  # one realisation at a time: large images stay in memory once
                img = tensor2img(noise(clean, generator).noisy.clamp(0, 1).cpu())
                if to_lmdb:
                    target.put(out_name, img)
                else:
                    write_image(osp.join(target, f'{out_name}.png'), img)
                    h, w = img.shape[:2]
                    meta.append(f'{out_name}.png ({h},{w},{img.shape[2]}) 1 {name}\n')
                count += 1
        if not to_lmdb:
            with open(osp.join(target, 'meta_info.txt'), 'w') as f:
                f.writelines(meta)
    return count


def generate_paired_transfer(noise, clean_root, output, seed=0):
    """NoiseTransfer with chosen references: each clean image of ``clean_root`` generated from the ``GeneratorNoise``'s
    reference of the same name (its own noisy version: the official paired evaluation), or from the one reference
    when it holds a single image (one-shot transfer); seeded ``seed + index``, written as PNGs to ``output``; returns
    their number."""
    source = ImageSource(clean_root, 'disk', what='--clean')
    names = noise.references.names
    missing = [n for n in source.names if n not in names]
    if len(names) > 1 and missing:
        raise InputError(f'The references have no image named {missing[:5]} (paired: the same names as the clean '
                         'images).')
    with AtomicOutput(output, True) as target:
        for index, name in enumerate(tqdm(source.names, unit='image', desc='Generating')):
            clean = img2tensor(source.read(name), bgr2rgb=True, float32=True)[None]
            generator = torch.Generator().manual_seed(seed + index)
            reference = torch.tensor([names.index(name) if len(names) > 1 else 0])
            noisy = noise.transfer(clean, reference, generator).clamp(0, 1)
            write_image(osp.join(target, f'{osp.splitext(name)[0]}.png'), tensor2img(noisy))
    return len(source.names)
