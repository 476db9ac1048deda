import copy
import cv2
import numpy as np
import os
import pytest
import subprocess
import sys
import torch
import yaml
from os import path as osp

import basicsr_noise  # noqa: F401  (shims and registration before any test imports basicsr)

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
SHARED_DATA = osp.join(osp.dirname(REPO), 'shared', 'data')


def _share_the_cores_between_workers():
    """Under pytest-xdist (``make test`` runs ``-n auto``) each worker, and every CLI it starts, gets its share of
    the cores: torch's default of one thread per core in every worker would oversubscribe the machine."""
    workers = int(os.environ.get('PYTEST_XDIST_WORKER_COUNT', '1'))
    if workers > 1:
        threads = max(1, (os.cpu_count() or 1) // workers)
        os.environ['OMP_NUM_THREADS'] = str(threads)
        torch.set_num_threads(threads)


_share_the_cores_between_workers()


def smooth_image(rng, h, w, c=3):
    """A smooth random uint8 image (low-frequency noise upsampled), realistic enough for a denoiser."""
    low = rng.uniform(0, 255, (max(h // 8, 2), max(w // 8, 2), c)).astype(np.float32)
    img = cv2.resize(low, (w, h), interpolation=cv2.INTER_CUBIC)
    return np.clip(img, 0, 255).astype(np.uint8).reshape(h, w, c)


def write_png(path, img):
    os.makedirs(osp.dirname(path), exist_ok=True)
    assert cv2.imwrite(path, img)


@pytest.fixture
def tiny_data(tmp_path):
    """Noisy-only training images and noisy/clean validation pairs (AWGN sigma 25) in ``tmp_path/data``."""
    rng = np.random.default_rng(0)
    root = tmp_path / 'data'
    for i in range(3):
        clean = smooth_image(rng, 40, 40)
        noisy = np.clip(clean + rng.normal(0, 25, clean.shape), 0, 255).astype(np.uint8)
        write_png(str(root / 'train' / 'noisy' / f'img{i}.png'), noisy)
    for i in range(2):
        clean = smooth_image(rng, 32, 32)
        noisy = np.clip(clean + rng.normal(0, 25, clean.shape), 0, 255).astype(np.uint8)
        write_png(str(root / 'val' / 'clean' / f'val{i}.png'), clean)
        write_png(str(root / 'val' / 'noisy' / f'val{i}.png'), noisy)
    return root


def r2r_options(data_root, **overrides):
    """A tiny R2R option dict (CPU, 4-layer DnCNN), 3 iterations per epoch."""
    opt = {
        'name': 'r2r_tiny',
        'model_type': 'R2RModel',
        'scale': 1,
        'num_gpu': 0,
        'manual_seed': 10,
        'r2r': {'alpha': 0.5, 'noise': {'type': 'awgn', 'sigma': 25}, 'test_samples': 2},
        'datasets': {
            'train': {
                'name': 'tiny_train', 'type': 'NoisyImageDataset', 'dataroot_lq': str(data_root / 'train' / 'noisy'),
                'io_backend': {'type': 'disk'}, 'gt_size': 16, 'use_hflip': True, 'use_rot': True,
                'num_worker_per_gpu': 1, 'batch_size_per_gpu': 4, 'dataset_enlarge_ratio': 4, 'prefetch_mode': None
            },
            'val': {
                'name': 'tiny_val', 'type': 'NoisyImageDataset', 'dataroot_lq': str(data_root / 'val' / 'noisy'),
                'dataroot_gt': str(data_root / 'val' / 'clean'), 'io_backend': {'type': 'disk'}
            },
        },
        'network_g': {'type': 'R2RDnCNN', 'num_in_ch': 3, 'num_feat': 8, 'num_layers': 4},
        'path': {'pretrain_network_g': None, 'strict_load_g': True, 'resume_state': None},
        'train': {
            'ema_decay': 0.9,
            'optim_g': {'type': 'Adam', 'lr': 1e-3, 'betas': [0.9, 0.99]},
            'scheduler': {'type': 'MultiStepLR', 'milestones': [15], 'gamma': 0.5},
            'total_iter': 20, 'warmup_iter': -1,
            'pixel_opt': {'type': 'MSELoss', 'loss_weight': 1.0, 'reduction': 'mean'},
        },
        'val': {'val_freq': 10, 'save_img': False, 'metrics': {'psnr': {'type': 'calculate_psnr', 'crop_border': 0}}},
        'logger': {'print_freq': 5, 'save_checkpoint_freq': 10, 'use_tb_logger': False},
        'dist_params': {'backend': 'gloo', 'port': 29500},
    }
    return apply_overrides(opt, overrides)


DELETE = object()  # an override value that removes the key


def apply_overrides(opt, overrides):
    """Set ``{'a.b.c': value}`` entries of a nested option dict in place (``DELETE`` removes the key)."""
    for dotted, value in overrides.items():
        node = opt
        *parents, last = dotted.split('.')
        for key in parents:
            node = node[key]
        if value is DELETE:
            del node[last]
        else:
            node[last] = value
    return opt


def train_through_cli(workdir, opt, *extra, prefix=None):
    """``basicsr-noise train`` on ``opt`` written in ``workdir``; returns the experiment folder."""
    workdir.mkdir(exist_ok=True)
    opt_file = write_options(workdir / 'options.yml', opt)
    result = run_cli(['train', '-opt', opt_file, *extra], cwd=workdir, prefix=prefix,
                     env={'OMP_NUM_THREADS': '1'} if prefix else None)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return workdir / 'experiments' / opt['name']


def preflight_error(workdir, opt):
    """``basicsr-noise train`` on options that must fail the pre-flight check: exit 2, no experiment folder made;
    returns the message (stderr)."""
    result = run_cli(['train', '-opt', write_options(workdir / 'bad.yml', opt)], cwd=workdir, timeout=120)
    assert result.returncode == 2, result.stdout[-2000:] + result.stderr[-2000:]
    assert not os.path.exists(workdir / 'experiments'), 'a failed pre-flight must not create experiment folders'
    return result.stderr


class KeyedSampleDataset(torch.utils.data.Dataset):
    """A user's dataset of a class no model knows, with no ``dataroot_*`` options: two random 32x32 samples with the
    keys ``opt['keys']``. Registered once, by :func:`keyed_dataset_options`."""

    def __init__(self, opt):
        self.keys = opt['keys']

    def __len__(self):
        return 2

    def __getitem__(self, index):
        return {key: torch.rand(3, 32, 32) for key in self.keys}


def keyed_dataset_options(keys):
    """``datasets.train`` options of a :class:`KeyedSampleDataset` whose samples carry ``keys``."""
    from basicsr.utils.registry import DATASET_REGISTRY
    if KeyedSampleDataset.__name__ not in DATASET_REGISTRY:
        DATASET_REGISTRY.register(KeyedSampleDataset)
    return {'name': 'keyed', 'type': KeyedSampleDataset.__name__, 'keys': list(keys)}


def free_port():
    """A TCP port free on this machine now (the OS picks it), so that parallel test workers never share one."""
    import socket
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def torchrun_two_gloo_processes():
    """The command prefix of a 2-process CPU DDP run (a free port per run)."""
    return [sys.executable, '-m', 'torch.distributed.run', '--nproc_per_node=2', '--master_port',
            str(free_port()), '-m', 'basicsr_noise']


def straight_and_resumed_runs(tmp_path, make_opt):
    """A 20-iteration run, and the same run stopped at 10 and resumed with ``--auto_resume``; their experiment
    folders. ``make_opt()`` gives the (20-iteration) options."""
    straight = train_through_cli(tmp_path / 'straight', make_opt())
    train_through_cli(tmp_path / 'resumed', make_opt(), '--force_yml', 'train:total_iter=10')
    resumed = train_through_cli(tmp_path / 'resumed', make_opt(), '--auto_resume')
    return straight, resumed


def assert_gan_resume_is_bit_exact(straight, resumed, iters):
    """G (params and EMA), D and both optimizers at ``iters`` equal between a straight and a resumed run."""
    for net in ('net_g', 'net_d'):
        a = torch.load(straight / 'models' / f'{net}_{iters}.pth', weights_only=True)
        b = torch.load(resumed / 'models' / f'{net}_{iters}.pth', weights_only=True)
        assert set(a) == set(b) and ('params_ema' in a) == (net == 'net_g')
        for key in ('params', 'params_ema'):
            for name in a.get(key, {}):
                assert torch.equal(a[key][name], b[key][name]), f'{net}.{key}.{name} differs after resume'
    a, b = (torch.load(run / 'training_states' / f'{iters}.state', weights_only=False) for run in (straight, resumed))
    assert len(a['optimizers']) == 2  # G and D
    for opt_a, opt_b in zip(a['optimizers'], b['optimizers']):
        for k, state in opt_a['state'].items():
            for name, value in state.items():
                assert torch.equal(torch.as_tensor(value), torch.as_tensor(opt_b['state'][k][name]))


def built_for_training(opt):
    """The model of ``opt`` built as BasicSR's trainer builds it, single-process, outside any experiment folder."""
    from basicsr.models import build_model
    opt = copy.deepcopy(opt)
    opt.update(is_train=True, dist=False, rank=0, world_size=1)
    opt['path'].update(models='/x', training_states='/x', visualization='/x')
    return build_model(opt)


def validate_twice(model, val_opt):
    """The metric results of two validations of ``model`` on the dataset of ``val_opt`` (a generator's validation
    must draw the same inputs each time)."""
    from torch.utils.data import DataLoader

    from basicsr_noise.data.noisy_image_dataset import NoisyImageDataset
    loader = DataLoader(NoisyImageDataset(dict(val_opt, phase='val')), batch_size=1)
    results = []
    for current_iter in (1, 2):
        model.nondist_validation(loader, current_iter, None, False)
        results.append(dict(model.metric_results))
    return results


def write_options(path, opt):
    with open(path, 'w') as f:
        yaml.safe_dump(opt, f, sort_keys=False)
    return str(path)


def run_cli(args, cwd, timeout=300, env=None, prefix=None):
    """Run ``python -m basicsr_noise ARGS`` (or ``prefix + ARGS``) in ``cwd``; returns the CompletedProcess."""
    cmd = (prefix or [sys.executable, '-m', 'basicsr_noise']) + list(args)
    full_env = dict(os.environ, PYTHONUNBUFFERED='1', **(env or {}))
    return subprocess.run(cmd, cwd=str(cwd), capture_output=True, text=True, timeout=timeout, env=full_env)
