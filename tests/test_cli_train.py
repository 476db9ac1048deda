"""Training through the command line, BasicSR's own train_pipeline underneath: smoke, exact resume, DDP."""
import glob
import os
import pytest
import shutil
import sys
import torch
from conftest import free_port, r2r_options, run_cli, write_options
from os import path as osp


def _train(tmp_path, tiny_data, workdir, *extra, **overrides):
    workdir = tmp_path / workdir
    workdir.mkdir(exist_ok=True)
    opt_file = write_options(workdir / 'r2r.yml', r2r_options(tiny_data, **overrides))
    result = run_cli(['train', '-opt', opt_file, *extra], cwd=workdir)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return workdir / 'experiments' / 'r2r_tiny'


def _log(exp_dir):
    logs = sorted(glob.glob(str(exp_dir / 'train_*.log')))
    assert logs, f'no log file in {exp_dir}'
    return open(logs[-1]).read()


def test_train_through_the_cli_writes_checkpoints_logs_and_validates(tmp_path, tiny_data):
    exp = _train(tmp_path, tiny_data, 'smoke', **{'train.total_iter': 6, 'logger.save_checkpoint_freq': 3,
                                                  'val.val_freq': 3})
    assert sorted(os.listdir(exp / 'models')) == ['net_g_3.pth', 'net_g_6.pth', 'net_g_latest.pth']
    assert sorted(os.listdir(exp / 'training_states')) == ['3.state', '6.state']
    log = _log(exp)
    assert 'Model [R2RModel] is created.' in log and 'l_pix:' in log
    assert '# psnr:' in log
    ckpt = torch.load(exp / 'models' / 'net_g_6.pth', weights_only=True)
    assert set(ckpt) == {'params', 'params_ema', 'meta'}
    assert ckpt['meta']['network_g']['type'] == 'R2RDnCNN'


def test_resume_continues_exactly(tmp_path, tiny_data):
    """10 iterations, stop, --auto_resume to 20 equals 20 uninterrupted (mid-epoch, EMA, LR milestone at 15)."""
    straight = _train(tmp_path, tiny_data, 'straight')
    interrupted = _train(tmp_path, tiny_data, 'resumed', '--force_yml', 'train:total_iter=10')
    assert not osp.exists(interrupted / 'models' / 'net_g_20.pth')
    resumed = _train(tmp_path, tiny_data, 'resumed', '--auto_resume')
    assert 'Resuming training from epoch: 3, iter: 10' in _log(resumed)
    assert 'continues after 1 of 3 iters' in _log(resumed)
    a = torch.load(straight / 'models' / 'net_g_20.pth', weights_only=True)
    b = torch.load(resumed / 'models' / 'net_g_20.pth', weights_only=True)
    for key in ('params', 'params_ema'):
        for name in a[key]:
            assert torch.equal(a[key][name], b[key][name]), f'{key}.{name} differs after resume'
    # the check is strong enough to notice a different run
    other = _train(tmp_path, tiny_data, 'other_seed', **{'manual_seed': 11})
    c = torch.load(other / 'models' / 'net_g_20.pth', weights_only=True)
    assert not all(torch.equal(a['params'][n], c['params'][n]) for n in a['params'])


def test_ddp_with_two_gloo_processes(tmp_path, tiny_data):
    workdir = tmp_path / 'ddp'
    workdir.mkdir()
    overrides = {'train.total_iter': 4, 'logger.save_checkpoint_freq': 4, 'val.val_freq': 4}
    opt_file = write_options(workdir / 'r2r.yml', r2r_options(tiny_data, **overrides))
    torchrun = [sys.executable, '-m', 'torch.distributed.run', '--nproc_per_node=2', '--master_port',
                str(free_port()), '-m', 'basicsr_noise']
    result = run_cli(['train', '-opt', opt_file, '--launcher', 'pytorch'], cwd=workdir, prefix=torchrun,
                     env={'OMP_NUM_THREADS': '1'})
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    exp = workdir / 'experiments' / 'r2r_tiny'
    log = _log(exp)
    assert 'World size (gpu number): 2' in log
    assert 'DistributedDataParallel - R2RDnCNN' in log
    assert osp.isfile(exp / 'models' / 'net_g_4.pth')


@pytest.fixture
def no_experiments(tmp_path):
    yield tmp_path
    assert not osp.exists(tmp_path / 'bad' / 'experiments'), 'a failed preflight must not create experiment folders'


def _bad(tmp_path, tiny_data, **overrides):
    workdir = tmp_path / 'bad'
    workdir.mkdir(exist_ok=True)
    opt_file = write_options(workdir / 'r2r.yml', r2r_options(tiny_data, **overrides))
    result = run_cli(['train', '-opt', opt_file], cwd=workdir, timeout=120)
    assert result.returncode == 2, result.stdout[-2000:] + result.stderr[-2000:]
    return result.stderr


def test_bad_input_missing_dataroot(no_experiments, tiny_data):
    err = _bad(no_experiments, tiny_data, **{'datasets.train.dataroot_lq': '/no/such/folder'})
    assert 'datasets.train.dataroot_lq' in err and '/no/such/folder' in err


def test_bad_input_corrupt_image(no_experiments, tiny_data):
    bad = tiny_data / 'train' / 'noisy' / 'img1.png'
    bad.write_bytes(b'not a png at all')
    err = _bad(no_experiments, tiny_data)
    assert str(bad) in err


def test_bad_input_unknown_model_and_arch_types(no_experiments, tiny_data):
    err = _bad(no_experiments, tiny_data, model_type='R2RModle')
    assert "'R2RModle'" in err and "Did you mean 'R2RModel'" in err
    err = _bad(no_experiments, tiny_data, **{'network_g.type': 'DnCNNX'})
    assert 'network_g.type' in err and "'DnCNNX'" in err


def test_bad_input_misspelt_r2r_key(no_experiments, tiny_data):
    opt_overrides = {'r2r': {'alpah': 0.5, 'noise': {'type': 'awgn', 'sigma': 25}}}
    err = _bad(no_experiments, tiny_data, **opt_overrides)
    assert 'r2r.alpah' in err and "Did you mean 'alpha'" in err
    err = _bad(no_experiments, tiny_data, **{'r2r.noise': {'type': 'awgn', 'sigmaa': 25}})
    assert 'r2r.noise.sigmaa' in err


def test_bad_input_image_smaller_than_patch(no_experiments, tiny_data):
    err = _bad(no_experiments, tiny_data, **{'datasets.train.gt_size': 64})
    assert 'smaller than the patch size gt_size=64' in err and 'img0.png' in err


def test_bad_input_cuda_prefetch_on_cpu(no_experiments, tiny_data):
    err = _bad(no_experiments, tiny_data, **{'datasets.train.prefetch_mode': 'cuda'})
    assert 'prefetch_mode' in err


def test_existing_experiment_is_archived_not_lost(tmp_path, tiny_data):
    first = _train(tmp_path, tiny_data, 'twice', **{'train.total_iter': 2, 'val.val_freq': 100})
    marker = first / 'models' / 'net_g_latest.pth'
    assert marker.exists()
    _train(tmp_path, tiny_data, 'twice', **{'train.total_iter': 2, 'val.val_freq': 100})
    archived = glob.glob(str(tmp_path / 'twice' / 'experiments' / 'r2r_tiny_archived_*'))
    assert len(archived) == 1 and osp.exists(osp.join(archived[0], 'models', 'net_g_latest.pth'))
    shutil.rmtree(archived[0])
