"""PNGANModel: it learns realistic noise from pairs; gradients through the frozen D_d; the CLI with generate, exact
resume, DDP and bad input."""
import cv2
import glob
import itertools
import numpy as np
import os
import pytest
import torch
from basicsr.archs import build_network
from basicsr.utils import img2tensor, tensor2img
from conftest import (DELETE, REPO, apply_overrides, assert_gan_resume_is_bit_exact, built_for_training,
                      keyed_dataset_options, preflight_error, run_cli, smooth_image, straight_and_resumed_runs,
                      torchrun_two_gloo_processes, train_through_cli, validate_twice, write_png)
from os import path as osp
from torch.utils.data import DataLoader
from torchvision.models import vgg as tv_vgg

from basicsr_noise.data.noisy_image_dataset import NoisyImageDataset
from basicsr_noise.metrics.noise_metrics import akld_torch
from basicsr_noise.noise import GeneratorNoise, build_noise

# The "real" noise: signal-dependent, weaker than the generator's AWGN sigma-50 input.
REAL_NOISE = {'type': 'HeteroscedasticGaussianNoise', 'a': 4e-3, 'b': 1e-4}
DENOISER = {'type': 'R2RDnCNN', 'num_in_ch': 3, 'num_feat': 16, 'num_layers': 5}


def _to_tensor(img):
    return img2tensor(img.astype(np.float32) / 255., bgr2rgb=True)[None]


@pytest.fixture(scope='module')
def pairs(tmp_path_factory):
    """Real noisy / clean pairs (12 training images of 64x64, 3 test images of 48x48) and a D_d checkpoint: a small
    DnCNN trained for a few hundred steps on the training pairs (as the paper's D_d is a real-noise denoiser)."""
    root = tmp_path_factory.mktemp('pngan_data')
    rng, noise = np.random.default_rng(5), build_noise(REAL_NOISE)
    for split, count, size in (('train', 12, 64), ('test', 3, 48)):
        for i in range(count):
            clean = smooth_image(rng, size, size)
            noisy = noise(_to_tensor(clean), torch.Generator().manual_seed(50 * (split == 'test') + i)).noisy
            write_png(str(root / split / 'noisy' / f'{split}{i}.png'), tensor2img(noisy.clamp(0, 1)))
            write_png(str(root / split / 'clean' / f'{split}{i}.png'), clean)
    torch.manual_seed(0)
    net = build_network(dict(DENOISER))
    dataset = NoisyImageDataset({'name': 'd', 'phase': 'train', 'dataroot_lq': str(root / 'train' / 'noisy'),
                                 'dataroot_gt': str(root / 'train' / 'clean'), 'io_backend': {'type': 'disk'},
                                 'gt_size': 32, 'use_hflip': True, 'use_rot': True, 'dataset_enlarge_ratio': 30})
    optimizer = torch.optim.Adam(net.parameters(), 2e-3)
    for batch in DataLoader(dataset, batch_size=8, shuffle=True, generator=torch.Generator().manual_seed(0)):
        optimizer.zero_grad()
        torch.nn.functional.mse_loss(net(batch['lq']), batch['gt']).backward()
        optimizer.step()
    torch.save({'params': net.state_dict(), 'meta': {'network_g': DENOISER}}, root / 'dd.pth')
    return root


def pngan_options(data, **overrides):
    """A tiny PNGAN run on CPU (SMNet width 8, 32x32 patches)."""
    opt = {
        'name': 'pngan_tiny', 'model_type': 'PNGANModel', 'scale': 1, 'num_gpu': 0, 'manual_seed': 3,
        'datasets': {
            'train': {'name': 'train', 'type': 'NoisyImageDataset', 'dataroot_lq': str(data / 'train' / 'noisy'),
                      'dataroot_gt': str(data / 'train' / 'clean'), 'io_backend': {'type': 'disk'}, 'gt_size': 32,
                      'use_hflip': True, 'use_rot': True, 'num_worker_per_gpu': 1, 'batch_size_per_gpu': 4,
                      'dataset_enlarge_ratio': 2, 'prefetch_mode': None},
            'val': {'name': 'test', 'type': 'NoisyImageDataset', 'dataroot_lq': str(data / 'test' / 'noisy'),
                    'dataroot_gt': str(data / 'test' / 'clean'), 'io_backend': {'type': 'disk'}},
        },
        'network_g': {'type': 'SMNet', 'num_feat': 8},
        'network_d': {'type': 'PNGANDenseDiscriminator', 'num_feat': 8},
        'network_dd': dict(DENOISER),
        'path': {'pretrain_network_g': None, 'strict_load_g': True, 'resume_state': None,
                 'pretrain_network_dd': str(data / 'dd.pth')},
        'train': {
            'ema_decay': 0.9,
            'optim_g': {'type': 'Adam', 'lr': 2e-3, 'betas': [0.9, 0.999]},
            'optim_d': {'type': 'Adam', 'lr': 2e-3, 'betas': [0.9, 0.999]},
            'scheduler': {'type': 'MultiStepLR', 'milestones': [15], 'gamma': 0.5},
            'total_iter': 20, 'warmup_iter': -1,
            'pixel_opt': {'type': 'L1Loss', 'loss_weight': 1.0},
            'gan_opt': {'type': 'PNGANRelativisticLoss', 'loss_weight': 8e-4},
        },
        'val': {'val_freq': 10, 'save_img': False,
                'metrics': {'akld': {'type': 'calculate_akld', 'better': 'lower'},
                            'ks': {'type': 'calculate_ks', 'better': 'lower'}}},
        'logger': {'print_freq': 5, 'save_checkpoint_freq': 10, 'use_tb_logger': False},
        'dist_params': {'backend': 'gloo', 'port': 29500},
    }
    return apply_overrides(opt, overrides)


def _test_images(data):
    names = sorted(os.listdir(data / 'test' / 'clean'))
    read = [[_to_tensor(cv2.imread(str(data / 'test' / k / n))) for n in names]
            for k in ('clean', 'noisy')]
    return torch.cat(read[0]), torch.cat(read[1])


def test_a_short_run_learns_noise_closer_to_the_real_than_its_input(pairs):
    """300 iterations: the generated noise is much closer to the real noise (AKLD) than the AWGN sigma-50 input,
    and closer than no noise at all (it generates noise, it does not denoise)."""
    opt = pngan_options(pairs, **{'train.ema_decay': 0, 'network_g.num_feat': 16, 'train.scheduler.milestones': [200]})
    torch.manual_seed(0)
    model = built_for_training(opt)
    loader = DataLoader(NoisyImageDataset(dict(opt['datasets']['train'], phase='train')), batch_size=4, shuffle=True,
                        drop_last=True, generator=torch.Generator().manual_seed(0))
    for step, batch in enumerate((b for _ in itertools.count() for b in loader), 1):
        model.update_learning_rate(step)
        model.feed_data(batch)
        model.optimize_parameters(step)
        if step == 300:
            break
    clean, real = _test_images(pairs)
    synthetic = model.noise(clean, torch.Generator().manual_seed(0)).noisy
    with torch.no_grad():
        fake = model.inference(synthetic).clamp(0, 1)
    input_akld, fake_akld, clean_akld = (akld_torch(x, real, clean).mean().item() for x in (synthetic, fake, clean))
    # measured: input 3.13, generated 0.32, no noise 0.70 (and 0.36 without the adversarial term)
    assert fake_akld < 0.5 * input_akld and fake_akld < clean_akld, (input_akld, fake_akld, clean_akld)


def test_gradients_reach_the_generator_through_the_frozen_denoiser_and_none_reach_it(pairs):
    model = built_for_training(pngan_options(pairs))
    dd_before = {k: v.clone() for k, v in model.net_dd.state_dict().items()}
    assert not any(p.requires_grad for p in model.net_dd.parameters()) and not model.net_dd.training
    clean = torch.rand(2, 3, 32, 32)
    model.feed_data({'gt': clean, 'lq': (clean + 0.05 * torch.randn_like(clean)).clamp(0, 1)})
    model.generate()
    aligned, target = model.pixel_pair()
    grad = torch.autograd.grad(model.cri_pix(aligned, target), model.output)[0]
    assert grad.abs().sum() > 0  # the alignment's gradient reaches G's output through D_d
    model.optimize_parameters(1)
    assert all(p.grad is None for p in model.net_dd.parameters())
    assert all(torch.equal(v, dd_before[k]) for k, v in model.net_dd.state_dict().items())
    assert model.optimizer_g.param_groups[0]['params'][0].grad is not None
    assert {'l_g_pix', 'l_g_gan', 'l_g_total', 'l_d_real', 'l_d_fake', 'out_d_real', 'out_d_fake'} <= set(
        model.log_dict)


def _grad_norms_after_one_step(pairs, gan_weight, log=True):
    torch.manual_seed(0)
    model = built_for_training(pngan_options(pairs, **{'train.log_grad_norms': log, 'train.ema_decay': 0,
                                                       'train.gan_opt.loss_weight': gan_weight}))
    clean = torch.rand(2, 3, 32, 32, generator=torch.Generator().manual_seed(1))
    model.feed_data({'gt': clean, 'lq': (clean + 0.05 * torch.randn_like(clean)).clamp(0, 1)})
    model.optimize_parameters(1)
    return model.log_dict


def test_log_grad_norms_reports_each_terms_gradient_at_the_generated_image(pairs):
    """The norms are each term's own gradient: the adversarial one scales with its weight, the pixel one does not."""
    base, tenfold = (_grad_norms_after_one_step(pairs, w) for w in (8e-4, 8e-3))
    assert base['out_g_grad_pix'] > 0 and base['out_g_grad_gan'] > 0
    assert base['out_g_grad_pix'] == pytest.approx(tenfold['out_g_grad_pix'], rel=1e-5)
    assert tenfold['out_g_grad_gan'] == pytest.approx(10 * base['out_g_grad_gan'], rel=1e-4)
    assert not any(k.startswith('out_g_grad') for k in _grad_norms_after_one_step(pairs, 8e-4, log=False))


def test_the_image_level_ablation_with_a_standard_gan_loss_trains(pairs):
    model = built_for_training(pngan_options(pairs, **{
        'network_d': {'type': 'PNGANImageDiscriminator', 'num_feat': 8},
        'train.gan_opt': {'type': 'GANLoss', 'gan_type': 'vanilla', 'loss_weight': 1e-3}}))
    clean = torch.rand(2, 3, 32, 32)
    model.feed_data({'gt': clean, 'lq': clean})
    model.optimize_parameters(1)
    assert all(np.isfinite(v) for v in model.log_dict.values())


def test_validation_scores_the_generated_noise_and_is_seeded(pairs):
    first, second = validate_twice(built_for_training(pngan_options(pairs)), pngan_options(pairs)['datasets']['val'])
    assert set(first) == {'akld', 'ks'} and first == second  # the same inputs at every validation
    assert 0 < first['akld'] and 0 < first['ks'] < 1


def _vgg_features_file(folder):
    torch.manual_seed(0)
    features = tv_vgg.make_layers(tv_vgg.cfgs['D'])[:4]  # vgg16 up to relu1_2, random weights
    path = folder / 'vgg16_features.pth'
    torch.save({f'features.{k}': v for k, v in features.state_dict().items()}, path)
    return str(path)


def test_the_shipped_option_file_trains_and_its_checkpoint_generates(tmp_path, pairs):
    """``basicsr train -opt options/pngan.yml`` on a tiny folder, with the perceptual term on a local VGG; then
    ``generate`` round-trips a folder from the checkpoint alone, seeded."""
    data, vgg = pairs, _vgg_features_file(tmp_path)
    ridnet = {'type': 'RIDNet', 'in_channels': 3, 'mid_channels': 16, 'out_channels': 3}  # the shipped D_d arch
    torch.save({'params': build_network(dict(ridnet)).state_dict()}, tmp_path / 'ridnet.pth')
    overrides = [
        'num_gpu=0', f'datasets:train:dataroot_lq={data}/train/noisy', f'datasets:train:dataroot_gt={data}/train/clean',
        'datasets:train:io_backend:type=disk', 'datasets:train:gt_size=32', 'datasets:train:batch_size_per_gpu=2',
        'datasets:train:num_worker_per_gpu=1', 'datasets:train:pin_memory=false',
        f'datasets:val:dataroot_lq={data}/test/noisy', f'datasets:val:dataroot_gt={data}/test/clean',
        'network_g:num_feat=8', 'network_d:num_feat=8', 'network_dd:mid_channels=16',
        f'path:pretrain_network_dd={tmp_path}/ridnet.pth', f'train:perceptual_opt:vgg_weights={vgg}',
        'train:perceptual_opt:vgg_type=vgg16', 'train:perceptual_opt:layer=relu1_2', 'train:total_iter=3',
        'train:scheduler:T_max=3', 'val:val_freq=3', 'logger:save_checkpoint_freq=3', 'logger:print_freq=1',
        'logger:use_tb_logger=false', 'dist_params:backend=gloo']
    result = run_cli(['train', '-opt', osp.join(REPO, 'options', 'pngan.yml'), '--force_yml', *overrides],
                     cwd=tmp_path)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    exp = tmp_path / 'experiments' / 'PNGAN_SIDD'
    log = open(sorted(glob.glob(str(exp / 'train_*.log')))[-1]).read()
    assert 'l_g_percep' in log and 'l_g_gan' in log and '# akld:' in log and '# ks:' in log
    ckpt = exp / 'models' / 'net_g_3.pth'
    meta = torch.load(ckpt, weights_only=True)['meta']
    assert meta['network_g']['type'] == 'SMNet' and meta['input_noise']['sigma'] == 50
    outs = []
    for run in ('a', 'b'):
        out = tmp_path / f'generated_{run}'
        result = run_cli(['generate', '--ckpt', str(ckpt), '--input', str(data / 'test' / 'clean'), '--output',
                          str(out), '--device', 'cpu', '--seed', '7'], cwd=tmp_path)
        assert result.returncode == 0, result.stderr[-2000:]
        outs.append(out)
    names = sorted(os.listdir(data / 'test' / 'clean'))
    assert sorted(os.listdir(outs[0])) == sorted(names + ['meta_info.txt'])
    for name in names:
        a, b = (cv2.imread(str(out / name)) for out in outs)
        assert np.array_equal(a, b)  # seeded
        assert not np.array_equal(a, cv2.imread(str(data / 'test' / 'clean' / name)))  # noise was added
    noise = GeneratorNoise(str(ckpt))  # the same generator as a noise model anywhere a noise_opt goes
    clean = _to_tensor(cv2.imread(str(data / 'test' / 'clean' / names[0])))
    made = noise(clean, torch.Generator().manual_seed(7)).noisy
    assert np.array_equal(tensor2img(made.clamp(0, 1)), cv2.imread(str(outs[0] / names[0])))


def test_generate_writes_an_lmdb_with_several_realisations(tmp_path, pairs):
    model = built_for_training(pngan_options(pairs))
    ckpt = tmp_path / 'g.pth'
    torch.save({'params': model.net_g.state_dict(), 'meta': model.checkpoint_meta('net_g')}, ckpt)
    out = tmp_path / 'fake.lmdb'
    result = run_cli(['generate', '--ckpt', str(ckpt), '--input', str(pairs / 'test' / 'clean'), '--output',
                      str(out), '--num', '2', '--device', 'cpu'], cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    keys = [line.split('.')[0] for line in open(out / 'meta_info.txt')]
    assert keys == ['test0_s000', 'test0_s001', 'test1_s000', 'test1_s001', 'test2_s000', 'test2_s001']
    result = run_cli(['generate', '--ckpt', str(ckpt), '--input', str(pairs / 'test' / 'clean'), '--output',
                      str(out), '--device', 'cpu'], cwd=tmp_path)
    assert result.returncode == 2 and 'exists' in result.stderr


def _train(tmp_path, data, workdir, *extra, prefix=None, **overrides):
    return train_through_cli(tmp_path / workdir, pngan_options(data, **overrides), *extra, prefix=prefix)


def test_resume_is_bit_exact_for_g_d_ema_and_both_optimizers(tmp_path, pairs):
    straight, resumed = straight_and_resumed_runs(tmp_path, lambda: pngan_options(pairs))
    assert_gan_resume_is_bit_exact(straight, resumed, 20)


def test_ddp_with_two_gloo_processes(tmp_path, pairs):
    exp = _train(tmp_path, pairs, 'ddp', '--launcher', 'pytorch', prefix=torchrun_two_gloo_processes(),
                 **{'train.total_iter': 4, 'logger.save_checkpoint_freq': 4, 'val.val_freq': 4})
    log = open(sorted(glob.glob(str(exp / 'train_*.log')))[-1]).read()
    assert 'World size (gpu number): 2' in log and 'DistributedDataParallel - SMNet' in log
    assert 'DistributedDataParallel - PNGANDenseDiscriminator' in log and '# akld:' in log
    assert osp.isfile(exp / 'models' / 'net_d_4.pth')


# ----------------------------------------------------------------------------------------------- bad input
@pytest.fixture
def bad(tmp_path, pairs):
    return lambda **overrides: preflight_error(tmp_path, pngan_options(pairs, **overrides))


def test_bad_input_no_denoiser_checkpoint(bad):
    assert 'PNGANModel needs path.pretrain_network_dd' in bad(**{'path.pretrain_network_dd': DELETE})


def test_bad_input_denoiser_checkpoint_missing(bad, tmp_path):
    err = bad(**{'path.pretrain_network_dd': str(tmp_path / 'nothing.pth')})
    assert 'path.pretrain_network_dd' in err and 'nothing.pth does not exist' in err


def test_bad_input_denoiser_channels_do_not_match_the_data(bad):
    err = bad(**{'network_dd.num_in_ch': 1})
    assert "network_dd (R2RDnCNN) cannot denoise the data's 3-channel images" in err


def test_bad_input_unpaired_dataset(bad):
    err = bad(**{'datasets.train.dataroot_gt': DELETE})
    assert 'PNGANModel trains on paired real noisy / clean images' in err and 'dataroot_gt' in err


def _custom_dataset_options(pairs, keys):
    opt = pngan_options(pairs)
    opt['datasets']['train'] = keyed_dataset_options(keys)
    return opt


def test_any_dataset_that_yields_gt_and_lq_passes_the_preflight_and_one_without_gt_fails_naming_it(pairs):
    """The keys of a sample decide, not the dataset's class name (a list-based dataset has no dataroot_gt)."""
    from basicsr_noise.models.pngan_model import PNGANModel
    from basicsr_noise.utils.option_check import check_datasets
    from basicsr_noise.utils.options import OptionError
    good = _custom_dataset_options(pairs, ('gt', 'lq'))
    PNGANModel.check_options(good)
    check_datasets(good, 'good.yml')
    with pytest.raises(OptionError, match='PNGANModel needs gt, lq in each batch, but a sample of datasets.train '
                       r'\(KeyedSampleDataset\) has no gt'):
        check_datasets(_custom_dataset_options(pairs, ('lq', )), 'bad.yml')
    model = built_for_training(pngan_options(pairs))
    with pytest.raises(ValueError, match='has no gt'):
        model.feed_data({'lq': torch.rand(1, 3, 32, 32)})


def test_the_denoiser_is_built_once_at_set_up_and_still_checked_there(pairs, monkeypatch):
    from basicsr.utils.registry import ARCH_REGISTRY

    from basicsr_noise.archs.dncnn_arch import R2RDnCNN
    built = []

    def counting(**kwargs):
        built.append(kwargs)
        return R2RDnCNN(**kwargs)

    monkeypatch.setitem(ARCH_REGISTRY._obj_map, 'R2RDnCNN', counting)
    built_for_training(pngan_options(pairs))
    assert len(built) == 1  # the option check at set-up no longer builds and runs a second D_d
    grey = dict(DENOISER, num_in_ch=1)
    torch.save({'params': build_network(dict(grey)).state_dict()}, str(pairs / 'dd_grey.pth'))
    with pytest.raises(ValueError, match="network_dd \\(R2RDnCNN\\) cannot denoise the data's 3-channel images"):
        built_for_training(pngan_options(pairs, network_dd=grey, **{'path.pretrain_network_dd': str(
            pairs / 'dd_grey.pth')}))


def test_bad_input_missing_vgg_weights(bad, tmp_path):
    err = bad(**{'train.perceptual_opt': {'type': 'PNGANPerceptualLoss', 'vgg_weights': str(tmp_path / 'vgg.pth'),
                                          'loss_weight': 6e-3}})
    assert 'train.perceptual_opt.vgg_weights' in err and 'vgg.pth do not exist' in err
    err = bad(**{'train.perceptual_opt': {'type': 'PNGANPerceptualLoss', 'loss_weight': 6e-3}})
    assert 'needs local VGG weights' in err and 'Remove perceptual_opt' in err
