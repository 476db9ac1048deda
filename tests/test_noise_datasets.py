import numpy as np
import pytest
import scipy.io
import torch
from basicsr.models import build_model
from conftest import r2r_options, run_cli, smooth_image, write_options, write_png

from basicsr_noise.compat import SampleIndex
from basicsr_noise.data.sidd_dataset import SIDDMediumDataset, SIDDValidationDataset
from basicsr_noise.data.synthetic_noise_dataset import (NoiseReferenceDataset, SyntheticNoiseDataset,
                                                        UnpairedCleanNoisyDataset, sidd_noise_class)


def _clean_opt(tiny_data, **kw):
    opt = {'name': 'synth', 'phase': 'train', 'dataroot_gt': str(tiny_data / 'val' / 'clean'), 'gt_size': 16,
           'use_hflip': True, 'noise_opt': {'type': 'AWGNNoise', 'sigma': 25}}
    opt.update(kw)
    return opt


def test_synthetic_noise_in_the_worker_and_deferred_to_the_device(tiny_data):
    worker = SyntheticNoiseDataset(_clean_opt(tiny_data))
    sample = worker[SampleIndex(0, 3)]
    assert sample['lq'].shape == sample['gt'].shape == (3, 16, 16)
    assert (sample['lq'] - sample['gt']).std().item() == pytest.approx(25 / 255., rel=0.25)
    torch.testing.assert_close(sample['noise_std_map'], torch.full((3, 16, 16), 25 / 255.))
    assert torch.equal(worker[SampleIndex(0, 3)]['lq'], sample['lq'])  # reproducible per draw
    deferred = SyntheticNoiseDataset(_clean_opt(tiny_data, synthesize_on_device=True))[SampleIndex(0, 3)]
    assert 'lq' not in deferred and torch.equal(deferred['gt'], sample['gt'])
    val = SyntheticNoiseDataset(_clean_opt(tiny_data, phase='val'))
    assert torch.equal(val[1]['lq'], val[1]['lq']) and val[1]['lq'].shape == (3, 32, 32)  # same noise each time
    with pytest.raises(ValueError, match='noise_opt'):
        SyntheticNoiseDataset({'name': 'x', 'dataroot_gt': str(tiny_data / 'val' / 'clean')})


def test_device_synthesis_model_draws_the_training_noise(tiny_data):
    opt = r2r_options(tiny_data)
    del opt['r2r']
    opt.update(model_type='SynthNoiseDenoiserModel', is_train=True, dist=False, rank=0, world_size=1)
    opt['datasets']['train'] = _clean_opt(tiny_data, synthesize_on_device=True,
                                          noise_opt={'type': 'PoissonGaussianNoise', 'a': 0.01, 'b': 1e-4})
    opt['path'].update(models='/x', training_states='/x', visualization='/x')
    model = build_model(opt)
    gt = torch.full((4, 3, 64, 64), 0.5)
    model.feed_data({'gt': gt})
    assert (model.lq - gt).var().item() == pytest.approx(0.01 * 0.5 + 1e-4, rel=0.05)
    lq = torch.rand(4, 3, 8, 8)
    model.feed_data({'gt': gt[..., :8, :8], 'lq': lq})
    assert torch.equal(model.lq, lq)  # batches with lq are used as they are


def test_training_with_noise_synthesised_on_the_device_through_the_cli(tmp_path, tiny_data):
    opt = r2r_options(tiny_data, **{'train.total_iter': 3, 'val.val_freq': 3, 'logger.save_checkpoint_freq': 3})
    del opt['r2r']
    opt['model_type'] = 'SynthNoiseDenoiserModel'
    opt['datasets']['train'] = dict(_clean_opt(tiny_data, synthesize_on_device=True), type='SyntheticNoiseDataset',
                                    num_worker_per_gpu=0, batch_size_per_gpu=2, dataset_enlarge_ratio=2)
    opt['datasets']['val'] = dict(_clean_opt(tiny_data, phase='val'), type='SyntheticNoiseDataset', name='sval')
    result = run_cli(['train', '-opt', write_options(tmp_path / 'o.yml', opt)], cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    assert (tmp_path / 'experiments' / 'r2r_tiny' / 'models' / 'net_g_3.pth').exists()
    assert 'Validation sval' in result.stderr


def test_unpaired_dataset_pairs_unrelated_images(tiny_data):
    dataset = UnpairedCleanNoisyDataset({
        'name': 'u', 'phase': 'train', 'dataroot_lq': str(tiny_data / 'train' / 'noisy'),
        'dataroot_gt': str(tiny_data / 'val' / 'clean'), 'gt_size': 16
    })
    assert len(dataset) == 3
    names = {dataset[SampleIndex(0, d)]['gt_path'] for d in range(12)}
    assert len(names) == 2 and all('val/clean' in n for n in names)


def test_unpaired_dataset_can_synthesise_its_noisy_side(tiny_data):
    opt = {'name': 'u', 'phase': 'train', 'dataroot_lq': str(tiny_data / 'val' / 'clean'),
           'dataroot_gt': str(tiny_data / 'val' / 'clean'), 'gt_size': 32}
    plain = UnpairedCleanNoisyDataset(opt)
    noisy = UnpairedCleanNoisyDataset(dict(opt, noise_opt={'type': 'AWGNNoise', 'sigma': 25}))
    a, b = plain[SampleIndex(0, 5)], noisy[SampleIndex(0, 5)]
    assert a['lq_path'] == b['lq_path'] and torch.equal(a['gt'], b['gt'])  # same crops, only the noise is added
    assert (b['lq'] - a['lq']).std().item() == pytest.approx(25 / 255., rel=0.2)
    assert torch.equal(noisy[SampleIndex(0, 5)]['lq'], b['lq'])
    assert not torch.equal(noisy[SampleIndex(0, 6)]['lq'], b['lq'])  # fresh noise in every draw


def test_noise_reference_synthetic_mode_shares_the_noise_parameters(tiny_data):
    opt = _clean_opt(tiny_data, noise_opt={'type': 'AWGNNoise', 'sigma': [5, 50]}, gt_size=32, use_hflip=False)
    dataset = NoiseReferenceDataset(opt)
    ratios = []
    for d in range(6):
        s = dataset[SampleIndex(d % 2, d)]
        ratios.append(((s['ref'] - _clean_of(dataset, s['ref_path'])).std() / (s['lq'] - s['gt']).std()).item())
    assert all(0.85 < r < 1.15 for r in ratios)  # same sigma for target and reference, whatever was drawn


def _clean_of(dataset, path):
    name = path.split('/')[-1]
    return torch.from_numpy(dataset.gt.read(name)[..., ::-1].copy()).permute(2, 0, 1)


def test_noise_reference_real_mode_uses_the_same_camera_and_iso(tmp_path):
    rng = np.random.default_rng(0)
    names = ['0001_001_S6_00100_00060_3200_L.png', '0002_001_S6_00100_00060_3200_N.png',
             '0003_001_GP_00800_00350_5500_N.png', '0004_001_GP_00800_00350_5500_L.png']
    for name in names:
        write_png(str(tmp_path / 'clean' / name), smooth_image(rng, 24, 24))
        write_png(str(tmp_path / 'noisy' / name), smooth_image(rng, 24, 24))
    dataset = NoiseReferenceDataset({'name': 'r', 'phase': 'train', 'dataroot_gt': str(tmp_path / 'clean'),
                                     'dataroot_lq': str(tmp_path / 'noisy'), 'gt_size': 16,
                                     'reference_group': 'camera_iso'})
    for d in range(8):
        s = dataset[SampleIndex(d % 4, d)]
        own, ref = s['lq_path'].split('/')[-1], s['ref_path'].split('/')[-1]
        assert own != ref and sidd_noise_class(own) == sidd_noise_class(ref)
    assert sidd_noise_class('0001_001_S6_00100_00060_3200_L') == ('S6', '00100')


def test_sidd_medium_layout_and_validation_blocks(tmp_path):
    rng = np.random.default_rng(0)
    for scene in ('0001_001_S6_00100_00060_3200_L', '0002_001_GP_00800_00350_5500_N'):
        for kind in ('NOISY', 'GT'):
            write_png(str(tmp_path / 'Data' / scene / f'{scene[:4]}_{kind}_SRGB_010.PNG'), smooth_image(rng, 40, 40))
    dataset = SIDDMediumDataset({'name': 's', 'phase': 'train', 'dataroot': str(tmp_path / 'Data'), 'gt_size': 32})
    assert len(dataset) == 2 and dataset[0]['lq'].shape == dataset[0]['gt'].shape == (3, 32, 32)
    assert 'GT_SRGB_010' in dataset[0]['gt_path']
    noisy = rng.integers(0, 256, (2, 3, 8, 8, 3)).astype(np.uint8)
    scipy.io.savemat(tmp_path / 'noisy.mat', {'ValidationNoisyBlocksSrgb': noisy})
    scipy.io.savemat(tmp_path / 'gt.mat', {'ValidationGtBlocksSrgb': noisy // 2})
    val = SIDDValidationDataset({'noisy_mat': str(tmp_path / 'noisy.mat'), 'gt_mat': str(tmp_path / 'gt.mat')})
    assert len(val) == 6
    item = val[4]  # scene 1, block 1
    np.testing.assert_allclose(item['lq'].permute(1, 2, 0).numpy(), noisy[1, 1] / 255., atol=1e-7)
    assert item['lq_path'] == '01_01'
    with pytest.raises(ValueError, match="no variable 'ValidationGtBlocksSrgb'"):
        SIDDValidationDataset({'noisy_mat': str(tmp_path / 'noisy.mat'), 'gt_mat': str(tmp_path / 'noisy.mat')})
    with pytest.raises(FileNotFoundError, match='missing.mat'):
        SIDDValidationDataset({'noisy_mat': str(tmp_path / 'missing.mat')})
