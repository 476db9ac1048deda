"""Benchmark submission files round-trip and have the layouts the SIDD and DND servers read."""
import csv
import h5py
import numpy as np
import pytest
import scipy.io
import torch
from conftest import run_cli, write_png

from basicsr_noise.evaluation.submission import (DND_CROPS, DND_IMAGES, base64_to_block, block_to_base64, bundle_dnd,
                                                 dnd_crops, read_sidd_csv, read_sidd_mat, submit_dnd, submit_sidd,
                                                 to_uint8, write_sidd_csv, write_sidd_mat)


def _blocks(scenes=2, per_scene=3, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (scenes, per_scene, 256, 256, 3), dtype=np.uint8)


def test_sidd_csv_round_trip_and_layout(tmp_path):
    blocks = _blocks()
    path = write_sidd_csv(blocks, tmp_path / 'SubmitSrgb.csv')
    csv.field_size_limit(1 << 20)
    with open(path, newline='') as f:
        rows = list(csv.reader(f))
    assert rows[0] == ['ID', 'BLOCK'] and len(rows) == 1 + 6
    assert rows[1 + 1 * 3 + 2][0] == '5'  # scene-major: ID = scene * blocks_per_scene + block
    np.testing.assert_array_equal(base64_to_block(rows[1 + 5][1]), blocks[1, 2])
    np.testing.assert_array_equal(read_sidd_csv(path, 2, 3), blocks)
    assert block_to_base64(blocks[0, 0]) == rows[1][1]


def test_sidd_mat_round_trip_and_layout(tmp_path):
    blocks = _blocks()
    path = write_sidd_mat(blocks, tmp_path / 'SubmitSrgb.mat', time_mp=1.5, method_name='R2R')
    content = scipy.io.loadmat(path)
    cells = content['DenoisedBlocksSrgb']
    assert cells.dtype == object and cells.shape == (2, 3)  # a MATLAB cell array of blocks
    assert cells[1, 2].dtype == np.uint8 and cells[1, 2].shape == (256, 256, 3)
    assert content['TimeMPSrgb'].item() == 1.5 and 'OptionalData' in content
    np.testing.assert_array_equal(read_sidd_mat(path), blocks)
    with pytest.raises(ValueError, match='uint8'):
        write_sidd_csv(blocks.astype(np.float32), tmp_path / 'x.csv')


def test_sidd_submission_from_a_denoiser_and_from_a_results_folder(tmp_path):
    noisy = _blocks()
    scipy.io.savemat(tmp_path / 'BenchmarkNoisyBlocksSrgb.mat', {'BenchmarkNoisyBlocksSrgb': noisy})
    invert = lambda x: 1 - x  # noqa: E731  (a "denoiser" whose output is known exactly)
    submit_sidd(tmp_path / 'model', tmp_path / 'BenchmarkNoisyBlocksSrgb.mat', denoiser=invert)
    expected = 255 - noisy
    np.testing.assert_array_equal(read_sidd_csv(tmp_path / 'model' / 'SubmitSrgb.csv', 2, 3), expected)
    np.testing.assert_array_equal(read_sidd_mat(tmp_path / 'model' / 'SubmitSrgb.mat'), expected)
    for s in range(2):
        for b in range(3):
            write_png(str(tmp_path / 'results' / f'{s:02d}_{b:02d}_denoised.png'), expected[s, b][..., ::-1].copy())
    submit_sidd(tmp_path / 'folder', results=tmp_path / 'results', formats=('csv', ), grid=(2, 3))
    np.testing.assert_array_equal(read_sidd_csv(tmp_path / 'folder' / 'SubmitSrgb.csv', 2, 3), expected)
    with pytest.raises(ValueError, match='02_00'):
        submit_sidd(tmp_path / 'bad', results=tmp_path / 'results', grid=(3, 3))
    assert to_uint8(torch.tensor([0.5 / 255, 1.6 / 255, 2.0])).tolist() == [0, 2, 255]  # rounded and clipped


def _fake_dnd_release(root, rng, size=24):
    """A DND-shaped release (MATLAB v7.3 files) with small images: 50 images, 20 boxes each."""
    (root / 'images_srgb').mkdir(parents=True)
    images, boxes = [], []
    with h5py.File(root / 'info.mat', 'w') as f:
        info = f.create_group('info')
        refs = info.create_dataset('boundingboxes', (1, DND_IMAGES), dtype=h5py.ref_dtype)
        for i in range(DND_IMAGES):
            img = rng.random((size, size + 8, 3)).astype(np.float32)
            images.append(img)
            with h5py.File(root / 'images_srgb' / f'{i + 1:04d}.mat', 'w') as g:
                g['InoisySRGB'] = img.T  # MATLAB stores column-major: the kit transposes back
            tops, lefts = rng.integers(1, 8, DND_CROPS), rng.integers(1, 8, DND_CROPS)
            box = np.stack([tops, lefts, tops + 9, lefts + 11], 1).astype(np.float64)  # 1-based, inclusive
            boxes.append(box)
            refs[0, i] = info.create_dataset(f'box{i}', data=box.T).ref
    return images, boxes


def test_dnd_reader_crops_and_bundle_layout(tmp_path):
    images, boxes = _fake_dnd_release(tmp_path / 'dnd', np.random.default_rng(0))
    crops = list(dnd_crops(tmp_path / 'dnd'))
    assert len(crops) == DND_IMAGES * DND_CROPS
    i, k, crop = crops[3 * DND_CROPS + 4]
    top, left, bottom, right = boxes[3][4].astype(int)
    assert (i, k) == (4, 5) and crop.shape == (10, 12, 3)
    np.testing.assert_array_equal(crop, images[3][top - 1:bottom, left - 1:right])

    bundled = submit_dnd(tmp_path / 'out', tmp_path / 'dnd', denoiser=lambda x: x * 0.5)
    crop_file = scipy.io.loadmat(tmp_path / 'out' / '0004_05.mat')['Idenoised_crop']
    assert crop_file.dtype == np.float32
    np.testing.assert_allclose(crop_file, crop * 0.5, rtol=1e-6)
    files = sorted(p.name for p in (tmp_path / 'out' / 'bundled').iterdir())
    assert files == [f'{n:04d}.mat' for n in range(1, DND_IMAGES + 1)] and str(bundled).endswith('bundled')
    content = scipy.io.loadmat(tmp_path / 'out' / 'bundled' / '0004.mat')
    assert content['Idenoised'].shape == (1, DND_CROPS) and content['Idenoised'].dtype == object
    np.testing.assert_allclose(content['Idenoised'][0, 4], crop * 0.5, rtol=1e-6)
    assert not content['israw'].item() and content['eval_version'].item() == '1.0'


def test_dnd_from_a_results_folder_and_missing_crops(tmp_path):
    rng = np.random.default_rng(1)
    for i in range(1, DND_IMAGES + 1):
        for k in range(1, DND_CROPS + 1):
            write_png(str(tmp_path / 'res' / f'{i:04d}_{k:02d}.png'), rng.integers(0, 256, (6, 5, 3), dtype=np.uint8))
    submit_dnd(tmp_path / 'out', results=tmp_path / 'res')
    crop = scipy.io.loadmat(tmp_path / 'out' / 'bundled' / '0050.mat')['Idenoised'][0, 19]
    import cv2
    np.testing.assert_allclose(crop, cv2.imread(str(tmp_path / 'res' / '0050_20.png'))[..., ::-1] / 255., rtol=1e-6)
    (tmp_path / 'out' / '0007_03.mat').unlink()
    with pytest.raises(FileNotFoundError, match='0007_03.mat'):
        bundle_dnd(tmp_path / 'out')


def test_submit_sidd_cli_with_a_checkpoint(tmp_path):
    from basicsr_noise.archs.dncnn_arch import R2RDnCNN
    net_opt = {'type': 'R2RDnCNN', 'num_in_ch': 3, 'num_feat': 8, 'num_layers': 3}
    net = R2RDnCNN(num_in_ch=3, num_feat=8, num_layers=3).eval()
    torch.save({'params': net.state_dict(), 'meta': {'network_g': net_opt}}, tmp_path / 'net_g.pth')
    noisy = _blocks(1, 2)
    scipy.io.savemat(tmp_path / 'noisy.mat', {'BenchmarkNoisyBlocksSrgb': noisy})
    result = run_cli(['submit', 'sidd', '--ckpt', 'net_g.pth', '--noisy_mat', 'noisy.mat', '--output', 'sub',
                      '--device', 'cpu'], cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    x = torch.from_numpy(noisy[0, 1] / 255.).float().permute(2, 0, 1)[None]
    with torch.no_grad():
        expected = to_uint8(net(x)[0].permute(1, 2, 0))
    np.testing.assert_array_equal(read_sidd_mat(tmp_path / 'sub' / 'SubmitSrgb.mat')[0, 1], expected)
    np.testing.assert_array_equal(read_sidd_csv(tmp_path / 'sub' / 'SubmitSrgb.csv', 1, 2)[0, 1], expected)


def test_submit_cli_needs_its_inputs(tmp_path):
    result = run_cli(['submit', 'sidd', '--output', 'o', '--ckpt', 'x.pth'], cwd=tmp_path)
    assert result.returncode != 0 and ('noisy_mat' in result.stderr or 'x.pth' in result.stderr)
    result = run_cli(['submit', 'dnd', '--output', 'o', '--results', 'nowhere'], cwd=tmp_path)
    assert result.returncode == 2 and 'nowhere' in result.stderr


def test_submit_dnd_cli_with_an_ntgan_checkpoint(tmp_path):
    """An NTGAN checkpoint denoises at noise level zero; DND's 10x12 crops are padded to multiples of 4 and back."""
    from basicsr_noise.archs.ntgan_arch import NTGANNet
    net_opt = {'type': 'NTGANNet', 'num_in_ch': 3, 'num_feat': 8}
    torch.manual_seed(0)
    net = NTGANNet(num_feat=8).eval()
    torch.save({'params': net.state_dict(), 'meta': {'network_g': net_opt}}, tmp_path / 'ntgan.pth')
    _fake_dnd_release(tmp_path / 'dnd', np.random.default_rng(2))
    result = run_cli(['submit', 'dnd', '--ckpt', 'ntgan.pth', '--data', 'dnd', '--output', 'sub', '--device', 'cpu'],
                     cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    i, k, crop = list(dnd_crops(tmp_path / 'dnd'))[7]
    with torch.no_grad():
        expected = net.denoise(torch.from_numpy(crop).permute(2, 0, 1)[None])[0].clamp(0, 1).permute(1, 2, 0).numpy()
    np.testing.assert_allclose(scipy.io.loadmat(tmp_path / 'sub' / f'{i:04d}_{k:02d}.mat')['Idenoised_crop'], expected,
                               atol=1e-6)
