"""The simulated camera benchmark and the PGap protocol on it (tiny budget: direction only)."""
import cv2
import json
import numpy as np
import pytest
import torch
import yaml
from conftest import run_cli
from os import path as osp

from basicsr_noise.evaluation.camsim import CAMSIM_SETTINGS, camsim_noise_opt
from basicsr_noise.evaluation.pgap import check_pgap_options
from basicsr_noise.noise import build_noise

TINY_RECIPE = {
    'total_iter': 100,
    'batch_size': 8,
    'patch_size': 40,
    'num_worker': 0,
    'network_g': {
        'type': 'R2RDnCNN',
        'num_in_ch': 3,
        'num_feat': 24,
        'num_layers': 6
    }
}


@pytest.fixture(scope='module')
def camsim(tmp_path_factory):
    root = tmp_path_factory.mktemp('camsim')
    result = run_cli(['prepare', 'camsim', '--output', str(root / 'camsim')], cwd=root)
    assert result.returncode == 0, result.stderr[-2000:]
    return root / 'camsim'


def test_camsim_layout_and_manifest(camsim):
    manifest = json.loads((camsim / 'camsim.json').read_text())
    assert manifest['settings'] == list(CAMSIM_SETTINGS) and manifest['noise_opt'] == camsim_noise_opt()
    paired = sorted(p.name for p in (camsim / 'train' / 'noisy').iterdir())
    assert paired == sorted(p.name for p in (camsim / 'train' / 'clean').iterdir())
    noisy_only = sorted(p.name for p in (camsim / 'train_noisy_only').iterdir())
    test = sorted(p.name for p in (camsim / 'test' / 'noisy').iterdir())
    assert len(paired) > 30 and len(noisy_only) > 30 and len(test) > 10
    assert not set(paired) & set(noisy_only)
    image = lambda name: name.rsplit('_r', 1)[0]  # noqa: E731
    assert not {image(n) for n in paired + noisy_only} & {image(n) for n in test}  # disjoint images
    tiles = manifest['tiles']
    assert len(tiles) == len(paired) + len(noisy_only) + len(test)
    assert {t['setting'] for t in tiles.values()} == set(CAMSIM_SETTINGS)
    first = tiles[f'test/{test[0][:-4]}']
    assert set(first) >= {'setting', 'seed', 'rgb2cam', 'red_gain', 'blue_gain', 'rgb_gain', 'shot', 'read', 'pattern'}


def test_camsim_tiles_are_reproducible_from_the_manifest(camsim):
    tiles = json.loads((camsim / 'camsim.json').read_text())['tiles']
    for key in list(tiles)[:2] + list(tiles)[-1:]:
        folder, name = key.split('/')
        params = tiles[key]
        if folder == 'train_noisy_only':
            continue
        clean = cv2.imread(str(camsim / folder / 'clean' / f'{name}.png'))[..., ::-1]
        x = torch.from_numpy(clean.astype(np.float32) / 255.).permute(2, 0, 1)[None]
        model = build_noise(camsim_noise_opt([params['setting']]))
        sample = model(x, torch.Generator().manual_seed(params['seed']))
        expected = (sample.noisy[0].clamp(0, 1).permute(1, 2, 0).numpy() * 255.).round().astype(np.uint8)
        stored = cv2.imread(str(camsim / folder / 'noisy' / f'{name}.png'))[..., ::-1]
        assert np.array_equal(stored, expected)
        assert sample.params['shot'][0].item() == pytest.approx(params['shot'])
        assert sample.params['red_gain'][0].item() == pytest.approx(params['red_gain'])
    result = run_cli(['prepare', 'camsim', '--output', str(camsim)], cwd=camsim.parent)
    assert result.returncode == 2 and 'exists' in result.stderr  # never silently replaced


def _pgap_options(camsim, name, noise_opt):
    return {
        'name': name,
        'num_gpu': 0,
        'manual_seed': 0,
        'pgap': {
            'train': {
                'dataroot_lq': str(camsim / 'train' / 'noisy'),
                'dataroot_gt': str(camsim / 'train' / 'clean')
            },
            'test': {
                'dataroot_lq': str(camsim / 'test' / 'noisy'),
                'dataroot_gt': str(camsim / 'test' / 'clean')
            },
            'source': {
                'type': 'noise_model',
                'noise_opt': noise_opt
            },
            'recipe': TINY_RECIPE
        }
    }


def test_pgap_true_camera_near_zero_and_mismatched_awgn_positive(camsim, tmp_path):
    gaps = {}
    for name, noise_opt in (('true_camera', camsim_noise_opt()), ('awgn5', {'type': 'AWGNNoise', 'sigma': 5})):
        opt_path = tmp_path / f'{name}.yml'
        opt_path.write_text(yaml.safe_dump(_pgap_options(camsim, name, noise_opt)))
        result = run_cli(['pgap', '-opt', str(opt_path)], cwd=tmp_path, timeout=600)
        assert result.returncode == 0, result.stderr[-3000:]
        report = json.loads((tmp_path / 'results' / name / 'pgap.json').read_text())
        assert report['pgap'] == pytest.approx(report['psnr_real_trained'] - report['psnr_source_trained'])
        gaps[name] = report['pgap']
        if name == 'awgn5':
            assert 'trained already, reusing' in result.stdout  # the real-pair denoiser is shared
    assert abs(gaps['true_camera']) < 0.5
    assert gaps['awgn5'] > 2 and gaps['awgn5'] > gaps['true_camera'] + 2


def test_pgap_options_are_checked(camsim, tmp_path):
    opt = _pgap_options(camsim, 'x', {'type': 'AWGNNoise', 'sigma': 5})
    opt['pgap']['recipe'] = {'iters': 10}
    with pytest.raises(ValueError, match='pgap.recipe: unknown keys'):
        check_pgap_options(opt)
    opt = _pgap_options(camsim, 'x', {'type': 'AWGNNoise', 'sigma': 5})
    opt['pgap']['test']['dataroot_gt'] = str(tmp_path / 'missing')
    with pytest.raises(ValueError, match='pgap.test.dataroot_gt'):
        check_pgap_options(opt)
    opt = _pgap_options(camsim, 'x', {'type': 'AWGNNoise', 'sigma': 5})
    opt['pgap']['source'] = {'type': 'generator'}
    with pytest.raises(ValueError, match='a generator source needs checkpoint'):
        check_pgap_options(opt)
    opt['pgap']['source'] = {'type': 'folder', 'dataroot': osp.join(camsim, 'test', 'noisy')}  # other names
    with pytest.raises(ValueError, match='pgap.source.dataroot .* lacks the noisy versions of'):
        check_pgap_options(opt)
    opt['pgap']['source'] = {'type': 'sampler'}
    with pytest.raises(ValueError, match='pgap.source.type'):
        check_pgap_options(opt)


def test_camsim_validation_split_and_overlapping_crops_leave_the_grid_and_the_test_split_unchanged(
        tmp_path, monkeypatch):
    from basicsr_noise.evaluation import camsim as camsim_module
    monkeypatch.setattr(camsim_module, 'CAMSIM_TRAIN', ('coffee', 'retina', 'rocket'))
    monkeypatch.setattr(camsim_module, 'CAMSIM_TEST', ('chelsea', ))
    small = camsim_module.bundled_image
    monkeypatch.setattr(camsim_module, 'bundled_image', lambda name: small(name, max_side=256))  # a quarter of it
    default = camsim_module.prepare_camsim(str(tmp_path / 'default'))
    variant = camsim_module.prepare_camsim(str(tmp_path / 'variant'), train_stride=64, val_images=['retina'])
    files = lambda root, folder: sorted(p.name for p in (root / folder).iterdir())  # noqa: E731
    d, v = tmp_path / 'default', tmp_path / 'variant'
    assert files(d, 'test/noisy') == files(v, 'test/noisy')
    for name in files(d, 'test/noisy'):
        assert (d / 'test' / 'noisy' / name).read_bytes() == (v / 'test' / 'noisy' / name).read_bytes()
    val = files(v, 'val/noisy')
    assert val and all(n.startswith('retina_r') for n in val) and files(v, 'val/clean') == val
    retina_grid = [k.split('/')[1] for k in default['tiles'] if k.split('/')[1].startswith('retina_r')]
    assert sorted(f'{n}.png' for n in retina_grid) == val  # every grid tile of the held-out image
    assert files(v, 'train_noisy_only') == [n for n in files(d, 'train_noisy_only') if not n.startswith('retina')]
    extra = [n for n in files(v, 'train/noisy') if '_y' in n]
    assert extra and not any(n.startswith('retina') for n in extra)
    assert files(v, 'train/noisy') == sorted(extra + [n for n in files(d, 'train/noisy') if not n.startswith('retina')])
    for key, params in default['tiles'].items():  # grid tiles keep their seeds and settings
        name = key.split('/')[1]
        moved = [k for k in variant['tiles'] if k.endswith(f'/{name}')]
        assert len(moved) == 1 and variant['tiles'][moved[0]]['seed'] == params['seed']
        assert variant['tiles'][moved[0]]['setting'] == params['setting']
    seeds = [p['seed'] for k, p in variant['tiles'].items() if '_y' in k]
    assert len(set(seeds)) == len(seeds) and min(seeds) >= default['seed'] + camsim_module.EXTRA_SEED_OFFSET
    assert variant['val_images'] == ['retina'] and variant['train_stride'] == 64
    for kwargs, message in (({
            'val_images': ['chelsea']
    }, 'not training images'), ({
            'val_images': ['coffee', 'retina', 'rocket']
    }, 'training split would be empty'), ({
            'train_stride': 0
    }, 'train_stride must be in')):
        with pytest.raises(ValueError, match=message):
            camsim_module.prepare_camsim(str(tmp_path / 'bad'), **kwargs)
        assert not (tmp_path / 'bad').exists()
