import cv2
import numpy as np
import os
import pytest
import scipy.io
import torch
from conftest import run_cli, smooth_image, write_png

from basicsr_noise.data import prepare
from basicsr_noise.data.noisy_image_dataset import NoisyImageDataset


@pytest.fixture
def fake_sidd(tmp_path):
    rng = np.random.default_rng(0)
    root = tmp_path / 'SIDD_Medium_Srgb' / 'Data'
    for scene in ('0001_001_S6_00100_00060_3200_L', '0002_001_GP_00800_00350_5500_N'):
        clean = smooth_image(rng, 600, 700)
        noisy = np.clip(clean + rng.normal(0, 10, clean.shape), 0, 255).astype(np.uint8)
        write_png(str(root / scene / f'{scene[:4]}_GT_SRGB_010.PNG'), clean)
        write_png(str(root / scene / f'{scene[:4]}_NOISY_SRGB_010.PNG'), noisy)
    return root


def test_prepare_sidd_writes_two_lmdbs_with_the_same_keys(fake_sidd, tmp_path):
    out = tmp_path / 'prepared'
    result = run_cli(['prepare', 'sidd', '--input', str(fake_sidd), '--output', str(out), '--crop_size', '256',
                      '--step', '192'], cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    assert 'Wrote 24 crop pairs' in result.stdout  # 3 x 4 crops of 600 x 700, per image
    assert 'SIDD crops' in result.stderr  # progress bar
    meta = {kind: open(out / f'{kind}_crops.lmdb' / 'meta_info.txt').read().splitlines() for kind in ('noisy', 'gt')}
    assert meta['noisy'] == meta['gt'] and len(meta['noisy']) == 24
    assert meta['noisy'][0] == '0001_001_S6_00100_00060_3200_L_0001_s001.png (256,256,3) 1'
    dataset = NoisyImageDataset({
        'name': 'l', 'phase': 'val', 'io_backend': {'type': 'lmdb'}, 'dataroot_lq': str(out / 'noisy_crops.lmdb'),
        'dataroot_gt': str(out / 'gt_crops.lmdb')
    })
    item = dataset[dataset.keys.index('0002_001_GP_00800_00350_5500_N_0002_s006')]  # row 1, column 1
    source = cv2.imread(str(fake_sidd / '0002_001_GP_00800_00350_5500_N' / '0002_GT_SRGB_010.PNG'))
    expected = source[192:448, 192:448, ::-1].astype(np.float32) / 255.
    np.testing.assert_array_equal(item['gt'].permute(1, 2, 0).numpy(), expected)


def test_an_interrupted_run_leaves_nothing_and_existing_output_is_kept(fake_sidd, tmp_path, monkeypatch):
    out = tmp_path / 'prepared'
    calls = []
    original_put = prepare.LmdbWriter.put

    def failing_put(self, key, img):
        calls.append(key)
        if len(calls) == 5:
            raise KeyboardInterrupt
        original_put(self, key, img)

    monkeypatch.setattr(prepare.LmdbWriter, 'put', failing_put)
    with pytest.raises(KeyboardInterrupt):
        prepare.prepare_sidd(str(fake_sidd), str(out), crop_size=256, step=192)
    assert os.listdir(out) == []  # neither a half-written LMDB nor a temporary folder
    monkeypatch.setattr(prepare.LmdbWriter, 'put', original_put)
    prepare.prepare_sidd(str(fake_sidd), str(out), crop_size=256, step=192)
    stamp = os.path.getmtime(out / 'gt_crops.lmdb' / 'meta_info.txt')
    with pytest.raises(FileExistsError, match='--overwrite'):
        prepare.prepare_sidd(str(fake_sidd), str(out), crop_size=256, step=256)
    assert os.path.getmtime(out / 'gt_crops.lmdb' / 'meta_info.txt') == stamp
    # step 256: 3 x 3 crops per image (the last row and column are aligned to the border)
    assert prepare.prepare_sidd(str(fake_sidd), str(out), crop_size=256, step=256, overwrite=True) == 18
    assert len(open(out / 'gt_crops.lmdb' / 'meta_info.txt').read().splitlines()) == 18


def test_make_lmdb_round_trip_through_the_dataset(tiny_data, tmp_path):
    lmdb_path = tmp_path / 'noisy.lmdb'
    result = run_cli(['make-lmdb', '--input', str(tiny_data / 'train' / 'noisy'), '--output', str(lmdb_path)],
                     cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    folder = NoisyImageDataset({'name': 'f', 'phase': 'val', 'dataroot_lq': str(tiny_data / 'train' / 'noisy')})
    lmdb = NoisyImageDataset({'name': 'l', 'phase': 'val', 'dataroot_lq': str(lmdb_path),
                              'io_backend': {'type': 'lmdb'}})
    assert lmdb.keys == ['img0', 'img1', 'img2']
    for i in range(3):
        assert torch.equal(folder[i]['lq'], lmdb[i]['lq'])
    again = run_cli(['make-lmdb', '--input', str(tiny_data / 'train' / 'noisy'), '--output', str(lmdb_path)],
                    cwd=tmp_path)
    assert again.returncode == 2 and '--overwrite' in again.stderr
    missing = run_cli(['prepare', 'sidd', '--output', str(tmp_path / 'x')], cwd=tmp_path)
    assert missing.returncode == 2 and '--input' in missing.stderr


def test_prepare_sidd_val_writes_named_blocks(tmp_path):
    rng = np.random.default_rng(0)
    noisy = rng.integers(0, 256, (2, 3, 16, 16, 3)).astype(np.uint8)
    scipy.io.savemat(tmp_path / 'n.mat', {'ValidationNoisyBlocksSrgb': noisy})
    scipy.io.savemat(tmp_path / 'g.mat', {'ValidationGtBlocksSrgb': noisy // 2})
    assert prepare.prepare_sidd_val(str(tmp_path / 'n.mat'), str(tmp_path / 'g.mat'), str(tmp_path / 'val')) == 12
    img = cv2.imread(str(tmp_path / 'val' / 'clean' / '01_02.png'))[..., ::-1]
    np.testing.assert_array_equal(img, noisy[1, 2] // 2)
    assert sorted(os.listdir(tmp_path / 'val')) == ['clean', 'noisy']
