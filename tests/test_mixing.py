"""Generated noise in any restoration model's training: GeneratorNoise from PNGAN and NoiseTransfer checkpoints,
real/generated mixing in SynthNoiseDenoiserModel, generate --num with a pairing meta_info, pgap and eval-noise with a
generator source, and bad input."""
import json
import numpy as np
import os
import pytest
import re
import torch
from basicsr.archs import build_network
from conftest import DELETE, apply_overrides, built_for_training, preflight_error, run_cli, smooth_image, write_png
from torch.utils.data import DataLoader

from basicsr_noise.compat import SampleIndex
from basicsr_noise.data.noisy_image_dataset import NoisyImageDataset
from basicsr_noise.data.synthetic_noise_dataset import SyntheticNoiseDataset
from basicsr_noise.evaluation.pgap import run_pgap
from basicsr_noise.models.synth_noise_model import SynthNoiseDenoiserModel
from basicsr_noise.noise import GeneratorNoise, build_noise
from basicsr_noise.utils.errors import InputError

PNGAN_G = {'type': 'SMNet', 'num_feat': 8}
NT_G = {'type': 'NoiseTransferUNet', 'num_feat': 8}
NT_E = {'type': 'NoiseTransferContraE', 'num_feat': 8}


@pytest.fixture(scope='module')
def data(tmp_path_factory):
    """Six 40x40 real pairs (noise sigma 15), six further clean images of another 'dataset', and generator
    checkpoints as PNGANModel and NoiseTransferModel write them (random weights)."""
    root = tmp_path_factory.mktemp('mixing')
    rng = np.random.default_rng(1)
    for i in range(6):
        clean = smooth_image(rng, 40, 40)
        write_png(str(root / 'clean' / f'p{i}.png'), clean)
        noisy = np.clip(clean + rng.normal(0, 15, clean.shape), 0, 255).round().astype(np.uint8)
        write_png(str(root / 'noisy' / f'p{i}.png'), noisy)
        write_png(str(root / 'other_clean' / f'o{i}.png'), smooth_image(rng, 48, 48))
    torch.manual_seed(0)
    torch.save({'params': build_network(dict(PNGAN_G)).state_dict(),
                'meta': {'network_g': PNGAN_G, 'input_noise': {'type': 'AWGNNoise', 'sigma': 50}}}, root / 'pngan.pth')
    torch.save({'params': build_network(dict(NT_G)).state_dict(), 'params_key_encoder':
                build_network(dict(NT_E)).state_dict(), 'meta': {'network_g': NT_G, 'network_key_encoder': NT_E}},
               root / 'noisetransfer.pth')
    torch.save({'params': build_network(dict(NT_E)).state_dict(), 'meta': {'network_d': NT_E}}, root / 'net_d.pth')
    return root


def mixing_options(data, **overrides):
    opt = {
        'name': 'mix', 'model_type': 'SynthNoiseDenoiserModel', 'scale': 1, 'num_gpu': 0, 'manual_seed': 0,
        'mixing': {'ratio': 0.25, 'noise_opt': {'type': 'GeneratorNoise', 'checkpoint': str(data / 'pngan.pth')}},
        'datasets': {'train': {'name': 'pairs', 'type': 'NoisyImageDataset', 'dataroot_lq': str(data / 'noisy'),
                               'dataroot_gt': str(data / 'clean'), 'dataroot_clean': str(data / 'other_clean'),
                               'io_backend': {'type': 'disk'}, 'gt_size': 32, 'use_hflip': True, 'use_rot': True,
                               'num_worker_per_gpu': 1, 'batch_size_per_gpu': 8, 'dataset_enlarge_ratio': 20,
                               'prefetch_mode': None}},
        'network_g': {'type': 'R2RDnCNN', 'num_in_ch': 3, 'num_feat': 8, 'num_layers': 3},
        'path': {'pretrain_network_g': None, 'strict_load_g': True, 'resume_state': None},
        'train': {'ema_decay': 0, 'optim_g': {'type': 'Adam', 'lr': 1e-3},
                  'scheduler': {'type': 'MultiStepLR', 'milestones': [100], 'gamma': 0.5}, 'total_iter': 4,
                  'warmup_iter': -1, 'pixel_opt': {'type': 'L1Loss', 'loss_weight': 1.0}},
        'logger': {'print_freq': 1, 'save_checkpoint_freq': 4, 'use_tb_logger': False},
        'dist_params': {'backend': 'gloo', 'port': 29500},
    }
    return apply_overrides(opt, overrides)


def test_generator_noise_from_pngan_and_noisetransfer_checkpoints_is_seeded(data):
    clean = torch.rand(3, 3, 24, 24, generator=torch.Generator().manual_seed(0))
    for noise in (GeneratorNoise(str(data / 'pngan.pth')),
                  GeneratorNoise(str(data / 'noisetransfer.pth'), reference=str(data / 'noisy'))):
        a, b, c = (noise(clean, torch.Generator().manual_seed(s)).noisy for s in (4, 4, 5))
        assert torch.equal(a, b) and not torch.equal(a, c) and a.shape == clean.shape
        assert 0 <= a.min() and a.max() <= 1


def test_generator_noise_goes_wherever_a_noise_opt_goes(data):
    generator = {'type': 'GeneratorNoise', 'checkpoint': str(data / 'pngan.pth')}
    choice = build_noise({'type': 'RandomChoiceNoise', 'models': [generator, {'type': 'AWGNNoise', 'sigma': 5}]})
    clean = torch.rand(8, 3, 16, 16, generator=torch.Generator().manual_seed(0))
    sample = choice(clean, torch.Generator().manual_seed(1))
    assert set(sample.params['choice'].tolist()) == {0, 1} and sample.noisy.shape == clean.shape
    dataset = SyntheticNoiseDataset({'name': 's', 'phase': 'train', 'dataroot_gt': str(data / 'other_clean'),
                                     'gt_size': 32, 'noise_opt': generator})
    item = dataset[SampleIndex(0, 0)]  # drawn in the worker, as any noise model
    assert item['lq'].shape == item['gt'].shape and not torch.equal(item['lq'], item['gt'])


def test_the_mixing_ratio_holds_per_batch(data):
    model = built_for_training(mixing_options(data))
    dataset = NoisyImageDataset(dict(mixing_options(data)['datasets']['train'], phase='train'))
    loader = DataLoader(dataset, batch_size=6, shuffle=True, generator=torch.Generator().manual_seed(0))
    shares = []
    for batch in (b for _ in range(100) for b in loader):  # 6 pairs per batch: 1.5 generated on average
        model.feed_data(batch)
        generated = [i for i in range(6) if torch.equal(model.gt[i], batch['clean'][i])]
        real = [i for i in range(6) if torch.equal(model.gt[i], batch['gt'][i])]
        assert len(generated) + len(real) == 6 and len(generated) in (1, 2)  # floor or ceil of 0.25 * 6
        assert len(generated) == round(model.generated_share * 6)
        for i in generated:  # the generator's noise on the other dataset's clean image, not the real pair
            assert not torch.equal(model.lq[i], batch['lq'][i]) and 0 <= model.lq[i].min()
        for i in real:
            assert torch.equal(model.lq[i], batch['lq'][i])
        shares.append(model.generated_share)
        if len(shares) == 100:
            break
    assert len(shares) == 100 and np.mean(shares) == pytest.approx(0.25, abs=0.02)


def test_fine_tuning_starts_from_the_given_weights(tmp_path, data):
    torch.manual_seed(3)
    net = build_network(dict(mixing_options(data)['network_g']))
    torch.save({'params': net.state_dict()}, tmp_path / 'pretrained.pth')
    model = built_for_training(mixing_options(data, **{'path.pretrain_network_g': str(tmp_path / 'pretrained.pth')}))
    assert all(torch.equal(a, b) for a, b in zip(model.net_g.state_dict().values(), net.state_dict().values()))
    result = run_cli(['train', '-opt', _write(tmp_path, mixing_options(
        data, **{'path.pretrain_network_g': str(tmp_path / 'pretrained.pth')}))], cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    log = open(next((tmp_path / 'experiments' / 'mix').glob('train_*.log'))).read()
    assert 'out_generated' in log and 'Loading R2RDnCNN model from' in log


def _write(folder, opt):
    from conftest import write_options
    return write_options(folder / 'mix.yml', opt)


def test_generate_num_2_writes_a_meta_info_that_a_paired_dataset_reads(tmp_path, data):
    out = tmp_path / 'fake'
    result = run_cli(['generate', '--ckpt', str(data / 'pngan.pth'), '--input', str(data / 'other_clean'),
                      '--output', str(out), '--num', '2', '--device', 'cpu'], cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    dataset = NoisyImageDataset({'name': 'gen', 'phase': 'val', 'dataroot_lq': str(out), 'io_backend':
                                 {'type': 'disk'}, 'dataroot_gt': str(data / 'other_clean'),
                                 'meta_info_file': str(out / 'meta_info.txt')})
    assert len(dataset) == 12
    item = dataset[3]
    assert os.path.basename(item['lq_path']) == 'o1_s001.png' and os.path.basename(item['gt_path']) == 'o1.png'
    assert not torch.equal(dataset[2]['lq'], dataset[3]['lq'])  # two realisations of one clean image


def test_pgap_with_a_generator_source_on_a_tiny_recipe(tmp_path, data):
    recipe = {'total_iter': 6, 'batch_size': 4, 'patch_size': 32, 'num_worker': 0,
              'network_g': {'type': 'R2RDnCNN', 'num_in_ch': 3, 'num_feat': 8, 'num_layers': 3}}
    pairs = {'dataroot_lq': str(data / 'noisy'), 'dataroot_gt': str(data / 'clean')}
    opt = {'name': 'pgap_gen', 'num_gpu': 0, 'manual_seed': 0,
           'pgap': {'train': pairs, 'test': pairs, 'recipe': recipe,
                    'source': {'type': 'generator', 'checkpoint': str(data / 'noisetransfer.pth'),
                               'reference': str(data / 'noisy')}}}
    result = run_pgap(opt, root=str(tmp_path), log=lambda *a: None)
    assert result['source']['noise_opt']['type'] == 'GeneratorNoise'
    assert np.isfinite(result['pgap']) and set(result['per_image']['source']) == {f'p{i}.png' for i in range(6)}
    stored = sorted(os.listdir(tmp_path / 'experiments' / 'pgap_gen_source_train_noisy'))
    assert stored == sorted([f'p{i}.png' for i in range(6)] + ['meta_info.txt'])  # materialised once, stored


def test_eval_noise_with_a_generator_checkpoint(tmp_path, data):
    for extra in ([], ['--ref', 'paired']):
        ckpt = data / ('noisetransfer.pth' if extra else 'pngan.pth')
        out = tmp_path / ('paired' if extra else 'pngan')
        result = run_cli(['eval-noise', '--clean', str(data / 'clean'), '--real', str(data / 'noisy'), '--ckpt',
                          str(ckpt), '--output', str(out), '--no_figures', *extra], cwd=tmp_path)
        assert result.returncode == 0, result.stderr[-2000:]
        report = json.load(open(out / 'eval_noise.json'))
        assert len(report['images']) == 6 and report['mean']['akld'] > 0
        assert sorted(os.listdir(out / 'fake')) == sorted([f'p{i}.png' for i in range(6)] +
                                                          ([] if extra else ['meta_info.txt']))


# ----------------------------------------------------------------------------------------------- bad input
def test_bad_input_a_checkpoint_that_is_not_a_generator(data):
    with pytest.raises(InputError, match='stores no network options \\(meta.network_g\\)'):
        GeneratorNoise(str(data / 'net_d.pth'))


def test_bad_input_an_empty_reference_folder(tmp_path, data):
    (tmp_path / 'empty').mkdir()
    with pytest.raises(InputError, match='reference: no images found in .*empty'):
        GeneratorNoise(str(data / 'noisetransfer.pth'), reference=str(tmp_path / 'empty'))


@pytest.mark.parametrize('ratio', [-0.1, 1.5])
def test_bad_input_a_ratio_outside_zero_one(data, ratio):
    message = f'mixing.ratio must be in [0, 1] (the share of generated pairs per batch), got {ratio}'
    # the call the pre-flight check makes (its command-line path: the next test)
    with pytest.raises(ValueError, match=re.escape(message)):
        SynthNoiseDenoiserModel.check_options(mixing_options(data, **{'mixing.ratio': ratio}))


def test_bad_input_mixing_without_clean_images(tmp_path, data):
    err = preflight_error(tmp_path, mixing_options(data, **{'datasets.train.dataroot_clean': DELETE}))
    assert 'mixing.ratio > 0 needs datasets.train.dataroot_clean' in err
