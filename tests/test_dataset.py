import cv2
import json
import numpy as np
import pytest
import torch
from basicsr.utils.lmdb_util import make_lmdb_from_imgs
from os import path as osp

from basicsr_noise.compat import SampleIndex
from basicsr_noise.data.noisy_image_dataset import NoisyImageDataset


def _opt(tiny_data, **kw):
    opt = {'name': 't', 'type': 'NoisyImageDataset', 'phase': 'train',
           'dataroot_lq': str(tiny_data / 'train' / 'noisy'), 'io_backend': {'type': 'disk'}, 'gt_size': 16,
           'use_hflip': True, 'use_rot': True}
    opt.update(kw)
    return opt


def test_train_crops_are_patches_of_the_image_and_follow_the_draw(tiny_data):
    dataset = NoisyImageDataset(_opt(tiny_data, use_hflip=False, use_rot=False))
    full = cv2.imread(str(tiny_data / 'train' / 'noisy' / 'img0.png'))[..., ::-1].astype(np.float32) / 255.
    a = dataset[SampleIndex(0, 7)]['lq'].permute(1, 2, 0).numpy()
    found = any(np.array_equal(full[t:t + 16, x:x + 16], a) for t in range(25) for x in range(25))
    assert found, 'the crop is not a window of the RGB image'
    assert torch.equal(dataset[SampleIndex(0, 7)]['lq'], dataset[SampleIndex(0, 7)]['lq'])
    crops = {tuple(dataset[SampleIndex(0, d)]['lq'].flatten()[:20].tolist()) for d in range(8)}
    assert len(crops) > 4  # different draws of the same image give different crops


def test_lmdb_and_folder_give_the_same_images(tiny_data, tmp_path):
    folder = tiny_data / 'val' / 'noisy'
    names = sorted(p.name for p in folder.iterdir())
    lmdb_path = str(tmp_path / 'noisy.lmdb')
    make_lmdb_from_imgs(str(folder), lmdb_path, names, [osp.splitext(n)[0] for n in names], map_size=1 << 24)
    gt_lmdb = str(tmp_path / 'clean.lmdb')
    make_lmdb_from_imgs(str(tiny_data / 'val' / 'clean'), gt_lmdb, names, [osp.splitext(n)[0] for n in names],
                        map_size=1 << 24)
    disk = NoisyImageDataset({'name': 'd', 'phase': 'val', 'dataroot_lq': str(folder),
                              'dataroot_gt': str(tiny_data / 'val' / 'clean'), 'io_backend': {'type': 'disk'}})
    lmdb = NoisyImageDataset({'name': 'l', 'phase': 'val', 'dataroot_lq': lmdb_path, 'dataroot_gt': gt_lmdb,
                              'io_backend': {'type': 'lmdb'}})
    assert len(disk) == len(lmdb) == 2
    for i in range(2):
        assert torch.equal(disk[i]['lq'], lmdb[i]['lq']) and torch.equal(disk[i]['gt'], lmdb[i]['gt'])
    with pytest.raises(ValueError, match='smaller than the patch size'):
        NoisyImageDataset({'name': 'l', 'phase': 'train', 'dataroot_lq': lmdb_path, 'gt_size': 64,
                           'io_backend': {'type': 'lmdb'}})


def test_grey_and_noise_std_file(tiny_data, tmp_path):
    table = tmp_path / 'std.json'
    table.write_text(json.dumps({'img0': 25, 'img1': [10, 20, 30], 'img2.png': 5}))
    dataset = NoisyImageDataset(_opt(tiny_data, noise_std_file=str(table)))
    torch.testing.assert_close(dataset[0]['noise_std'], torch.full((3,), 25 / 255.))
    torch.testing.assert_close(dataset[1]['noise_std'], torch.tensor([10., 20., 30.]) / 255.)
    with pytest.raises(ValueError, match='img1.png has 3 values for 1-channel images'):
        NoisyImageDataset(_opt(tiny_data, color='gray', noise_std_file=str(table)))
    table.write_text(json.dumps({'img0': 25, 'img1': 20, 'img2': 5}))
    grey = NoisyImageDataset(_opt(tiny_data, color='gray', noise_std_file=str(table)))
    assert grey[0]['lq'].shape == (1, 16, 16) and grey[2]['noise_std'].tolist() == pytest.approx([5 / 255.])
    table.write_text(json.dumps({'img0': 25}))
    with pytest.raises(ValueError, match='no entry'):
        NoisyImageDataset(_opt(tiny_data, noise_std_file=str(table)))


def test_truncated_image_is_named_when_read(tiny_data):
    path = tiny_data / 'train' / 'noisy' / 'img2.png'
    path.write_bytes(path.read_bytes()[:60])  # header intact, data cut
    dataset = NoisyImageDataset(_opt(tiny_data, gt_size=None))
    with pytest.raises(ValueError, match='img2.png'):
        dataset[2]


def test_noise_level_functions_per_image(tiny_data, tmp_path):
    table = tmp_path / 'nlf.json'
    table.write_text(json.dumps({f'img{i}': {'a': [0.01, 0.02, 0.03], 'b': 0.001 * i} for i in range(3)}))
    dataset = NoisyImageDataset(_opt(tiny_data, noise_std_file=str(table)))
    torch.testing.assert_close(dataset[2]['noise_nlf'], torch.tensor([[0.01, 0.02, 0.03], [0.002] * 3]))
    table.write_text(json.dumps({'img0': {'a': 0.01, 'b': 0.0}, 'img1': 5, 'img2': 5}))
    with pytest.raises(ValueError, match='mixes'):
        NoisyImageDataset(_opt(tiny_data, noise_std_file=str(table)))


def test_noise_maps_are_cropped_and_augmented_with_the_image(tiny_data, tmp_path):
    maps = tmp_path / 'maps'
    maps.mkdir()
    for i in range(3):  # the map of each image is the image itself (RGB, 0-255): alignment is then exact
        img = cv2.imread(str(tiny_data / 'train' / 'noisy' / f'img{i}.png'))[..., ::-1]
        np.save(maps / f'img{i}.npy', img.astype(np.float32))
    dataset = NoisyImageDataset(_opt(tiny_data, dataroot_noise_map=str(maps)))
    for draw in range(6):
        sample = dataset[SampleIndex(draw % 3, draw)]
        assert sample['noise_std_map'].shape == (3, 16, 16)
        torch.testing.assert_close(sample['noise_std_map'], sample['lq'])
    (maps / 'img1.npy').unlink()
    with pytest.raises(FileNotFoundError, match='img1.npy'):
        NoisyImageDataset(_opt(tiny_data, dataroot_noise_map=str(maps)))
