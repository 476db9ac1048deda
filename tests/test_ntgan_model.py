"""NTGANModel: it learns to denoise from noisy images alone; the CLI, exact resume, DDP and bad input."""
import copy
import cv2
import glob
import numpy as np
import os
import pytest
import torch
from basicsr.metrics import calculate_psnr
from basicsr.models import build_model
from basicsr.utils import img2tensor, tensor2img
from conftest import (DELETE, REPO, SHARED_DATA, apply_overrides, assert_gan_resume_is_bit_exact, preflight_error,
                      run_cli, smooth_image, straight_and_resumed_runs, torchrun_two_gloo_processes, train_through_cli,
                      write_png)
from os import path as osp
from torch.utils.data import DataLoader

from basicsr_noise.data.noisy_image_dataset import NoisyImageDataset
from basicsr_noise.noise import build_noise

SIMULATOR = {'type': 'CRFCameraNoise', 'sigma_s': [0, 0.08], 'sigma_c': [0, 0.04], 'crf': 'gamma'}


@pytest.fixture(scope='module')
def camera_noisy_data(tmp_path_factory):
    """Noisy training images and held-out noisy/clean pairs, all with noise of the simulator's own family. Twelve
    96x96 training images: with a handful of small ones the network memorises their fixed noise, which the
    Noisier2Noise target keeps (``o - n1`` contains ``n0``), and stops generalising."""
    root = tmp_path_factory.mktemp('ntgan_data')
    rng, noise = np.random.default_rng(3), build_noise(SIMULATOR)
    for split, count, size in (('train', 12, 96), ('test', 3, 48)):
        for i in range(count):
            clean = smooth_image(rng, size, size)
            x = img2tensor(clean.astype(np.float32) / 255., bgr2rgb=True)[None]
            noisy = tensor2img(noise(x, torch.Generator().manual_seed(100 * (split == 'test') + i)).noisy.clamp(0, 1))
            write_png(str(root / split / 'noisy' / f'{split}{i}.png'), noisy)
            write_png(str(root / split / 'clean' / f'{split}{i}.png'), clean)
    return root


def ntgan_options(data, **overrides):
    """A tiny NTGAN run on CPU (width 8, 32x32 patches)."""
    opt = {
        'name': 'ntgan_tiny', 'model_type': 'NTGANModel', 'scale': 1, 'num_gpu': 0, 'manual_seed': 5,
        'ntgan': {'noise_opt': dict(SIMULATOR)},
        'datasets': {
            'train': {'name': 'train', 'type': 'NoisyImageDataset', 'dataroot_lq': str(data / 'train' / 'noisy'),
                      'io_backend': {'type': 'disk'}, 'gt_size': 32, 'use_hflip': True, 'use_rot': True,
                      'num_worker_per_gpu': 1, 'batch_size_per_gpu': 4, 'dataset_enlarge_ratio': 2,
                      'prefetch_mode': None},
            'val': {'name': 'test', 'type': 'NoisyImageDataset', 'dataroot_lq': str(data / 'test' / 'noisy'),
                    'dataroot_gt': str(data / 'test' / 'clean'), 'io_backend': {'type': 'disk'}},
        },
        'network_g': {'type': 'NTGANNet', 'num_feat': 8},
        'network_d': {'type': 'NTGANDiscriminator', 'num_in_ch': 6, 'num_feat': 8},
        'path': {'pretrain_network_g': None, 'strict_load_g': True, 'resume_state': None},
        'train': {
            'ema_decay': 0.9,
            'optim_g': {'type': 'Adam', 'lr': 2e-3, 'betas': [0.9, 0.99]},
            'optim_d': {'type': 'Adam', 'lr': 2e-3, 'betas': [0.9, 0.99]},
            'scheduler': {'type': 'MultiStepLR', 'milestones': [15], 'gamma': 0.5},
            'total_iter': 20, 'warmup_iter': -1,
            'pixel_opt': {'type': 'MSELoss', 'loss_weight': 1.0},
            'gan_opt': {'type': 'GANLoss', 'gan_type': 'lsgan', 'loss_weight': 1e-3},
        },
        'val': {'val_freq': 10, 'save_img': False, 'metrics': {'psnr': {'type': 'calculate_psnr', 'crop_border': 0}}},
        'logger': {'print_freq': 5, 'save_checkpoint_freq': 10, 'use_tb_logger': False},
        'dist_params': {'backend': 'gloo', 'port': 29500},
    }
    return apply_overrides(opt, overrides)


def _test_psnr(denoise, data):
    """Mean PSNR (BasicSR's uint8 convention) of ``denoise`` and of the noisy inputs on the held-out pairs."""
    out, noisy = [], []
    for name in sorted(os.listdir(data / 'test' / 'noisy')):
        lq = img2tensor(cv2.imread(str(data / 'test' / 'noisy' / name)).astype(np.float32) / 255., bgr2rgb=True)[None]
        gt = cv2.imread(str(data / 'test' / 'clean' / name))
        with torch.no_grad():
            out.append(calculate_psnr(tensor2img(denoise(lq).clamp(0, 1)), gt, 0))
        noisy.append(calculate_psnr(tensor2img(lq), gt, 0))
    return float(np.mean(noisy)), float(np.mean(out))


def test_a_short_run_on_noisy_images_alone_denoises(camera_noisy_data):
    """300 iterations of a 16-feature network on 12 noisy images: held-out PSNR clearly above the input's."""
    opt = ntgan_options(camera_noisy_data, **{
        'train.ema_decay': 0, 'network_g.num_feat': 16, 'train.optim_g.lr': 1e-3,
        'train.scheduler': {'type': 'MultiStepLR', 'milestones': [200], 'gamma': 0.25}})
    opt.update(is_train=True, dist=False, rank=0, world_size=1)
    opt['path'].update(models='/x', training_states='/x', visualization='/x')
    torch.manual_seed(0)
    model = build_model(opt)
    dataset = NoisyImageDataset(dict(opt['datasets']['train'], phase='train', dataset_enlarge_ratio=4))
    loader = DataLoader(dataset, batch_size=4, shuffle=True, drop_last=True,
                        generator=torch.Generator().manual_seed(0))
    iters = 0
    while iters < 300:
        for batch in loader:  # noisy images only: the batch has no gt
            assert set(batch) == {'lq', 'lq_path'}
            iters += 1
            model.update_learning_rate(iters)
            model.feed_data(batch)
            model.optimize_parameters(iters)
            if iters == 300:
                break
    noisy, denoised = _test_psnr(model.inference, camera_noisy_data)
    assert denoised > noisy + 1, (noisy, denoised)  # measured: 28.42 -> 30.17 dB
    _, identity = _test_psnr(lambda x: x, camera_noisy_data)
    assert identity == pytest.approx(noisy)  # the trivial identity map would fail the check above


def _train(tmp_path, data, workdir, *extra, prefix=None, **overrides):
    return train_through_cli(tmp_path / workdir, ntgan_options(data, **overrides), *extra, prefix=prefix)


def test_resume_is_bit_exact_for_g_d_ema_and_both_optimizers(tmp_path, camera_noisy_data):
    straight, resumed = straight_and_resumed_runs(tmp_path, lambda: ntgan_options(camera_noisy_data))
    assert_gan_resume_is_bit_exact(straight, resumed, 20)
    log = open(sorted(glob.glob(str(resumed / 'train_*.log')))[-1]).read()
    assert 'Resuming training from epoch' in log and 'l_g_pix' in log and 'l_d_real' in log and 'out_d_fake' in log


def test_ddp_with_two_gloo_processes(tmp_path, camera_noisy_data):
    exp = _train(tmp_path, camera_noisy_data, 'ddp', '--launcher', 'pytorch', prefix=torchrun_two_gloo_processes(),
                 **{'train.total_iter': 4, 'logger.save_checkpoint_freq': 4, 'val.val_freq': 4})
    log = open(sorted(glob.glob(str(exp / 'train_*.log')))[-1]).read()
    assert 'World size (gpu number): 2' in log and 'DistributedDataParallel - NTGANNet' in log
    assert 'DistributedDataParallel - NTGANDiscriminator' in log
    assert osp.isfile(exp / 'models' / 'net_d_4.pth')


def test_the_shipped_option_file_trains_through_the_cli(tmp_path, camera_noisy_data):
    """``basicsr train -opt options/ntgan.yml``, its data pointed at a tiny folder, CPU-sized."""
    data = camera_noisy_data
    overrides = [
        'num_gpu=0', f'datasets:train:dataroot_lq={data}/train/noisy', 'datasets:train:io_backend:type=disk',
        'datasets:train:gt_size=32', 'datasets:train:batch_size_per_gpu=2', 'datasets:train:num_worker_per_gpu=1',
        'datasets:train:pin_memory=false', f'datasets:val:dataroot_lq={data}/test/noisy',
        f'datasets:val:dataroot_gt={data}/test/clean', 'network_g:num_feat=8', 'network_d:num_feat=8',
        'ntgan:noise_opt:crf=gamma', 'train:total_iter=3', 'train:scheduler:T_max=3', 'val:val_freq=3',
        'logger:save_checkpoint_freq=3', 'logger:print_freq=1', 'logger:use_tb_logger=false',
        'dist_params:backend=gloo']
    result = run_cli(['train', '-opt', osp.join(REPO, 'options', 'ntgan.yml'), '--force_yml', *overrides],
                     cwd=tmp_path)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    exp = tmp_path / 'experiments' / 'NTGAN_SIDD'
    assert {'net_g_3.pth', 'net_d_3.pth', 'net_g_latest.pth'} <= set(os.listdir(exp / 'models'))
    ckpt = torch.load(exp / 'models' / 'net_g_3.pth', weights_only=True)
    assert ckpt['meta']['network_g']['type'] == 'NTGANNet' and 'params_ema' in ckpt
    # the checkpoint alone denoises: infer runs the network at noise level zero
    out = tmp_path / 'out'
    result = run_cli(['infer', '-i', str(data / 'test' / 'noisy'), '-o', str(out), '--ckpt',
                      str(exp / 'models' / 'net_g_3.pth'), '--tile', '32', '--tile_overlap', '8', '--device', 'cpu'],
                     cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    assert sorted(os.listdir(out)) == sorted(os.listdir(data / 'test' / 'noisy'))


# ----------------------------------------------------------------------------------------------- bad input
@pytest.fixture
def bad(tmp_path, camera_noisy_data):
    return lambda **overrides: preflight_error(tmp_path, ntgan_options(camera_noisy_data, **overrides))


def test_bad_input_no_discriminator(bad):
    assert 'NTGANModel needs network_d' in bad(network_d=DELETE)


def test_bad_input_missing_dorf_file(bad, tmp_path):
    err = bad(**{'ntgan.noise_opt': dict(SIMULATOR, crf='dorf', dorf_dir=str(tmp_path / 'no_dorf'))})
    assert 'ntgan.noise_opt' in err and '201_CRF_data.mat' in err and 'does not exist' in err


def test_bad_input_grey_dataset_into_the_colour_network(bad):
    err = bad(**{'datasets.train.color': 'gray'})
    assert 'datasets.train.color is gray' in err and '3-channel' in err


def test_bad_input_patch_size_not_a_multiple_of_four(bad):
    err = bad(**{'datasets.train.gt_size': 30})
    assert 'datasets.train.gt_size must be a multiple of 4' in err and '30' in err


def test_official_dorf_simulator_builds_the_shipped_model(camera_noisy_data):
    """The shipped file's simulator (DoRF curves) with the shared curves, when they are here."""
    dorf = osp.join(SHARED_DATA, 'dorf')
    if not osp.isdir(dorf):
        pytest.skip('../shared/data/dorf (DoRF curves) is not present')
    opt = ntgan_options(camera_noisy_data)
    opt['ntgan']['noise_opt'] = dict(crf='dorf', dorf_dir=dorf, type='CRFCameraNoise')
    opt.update(is_train=True, dist=False, rank=0, world_size=1)
    opt['path'].update(models='/x', training_states='/x', visualization='/x')
    model = build_model(copy.deepcopy(opt))
    model.feed_data({'lq': torch.rand(2, 3, 32, 32)})
    model.optimize_parameters(1)
    assert all(np.isfinite(v) for v in model.log_dict.values())
