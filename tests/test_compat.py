"""Each compat fix, with proof that basicsr 1.4.2 fails without it on this stack."""
import cv2
import json
import numpy as np
import os
import pickle
import pytest
import subprocess
import sys
import torch
from basicsr.data.data_sampler import EnlargedSampler
from basicsr.utils.options import parse_options
from conftest import free_port

from basicsr_noise import compat

compat.apply()  # importing the package applies none of the fixes tested here (the command and apply() do)

PATCHED = {'basicsr.train': ('load_resume_state', 'create_train_val_dataloader', 'EnlargedSampler'),
           'basicsr.utils.dist_util': ('init_dist', ), 'basicsr.utils.options': ('init_dist', ),
           'basicsr.data.degradations': ('add_jpg_compression', )}


def _python(code):
    return subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, timeout=120)


def test_importing_every_library_module_changes_nothing_in_basicsr_and_apply_installs_the_fixes():
    """A fresh process: BasicSR's functions are its own after every library module is imported; ours after
    ``compat.apply()``."""
    code = f"""
import importlib, pkgutil, json
import basicsr_noise
for sub in ('archs', 'data', 'losses', 'metrics', 'models', 'noise'):
    pkg = importlib.import_module('basicsr_noise.' + sub)
    for info in pkgutil.walk_packages(pkg.__path__, pkg.__name__ + '.'):
        importlib.import_module(info.name)
def owners():
    return {{f'{{m}}.{{n}}': getattr(importlib.import_module(m), n).__module__
            for m, names in {PATCHED!r}.items() for n in names}}
before = owners()
from basicsr_noise import compat
compat.apply()
print(json.dumps([before, owners()]))
"""
    result = _python(code)
    assert result.returncode == 0, result.stderr[-3000:]
    before, after = json.loads(result.stdout.strip().splitlines()[-1])
    assert len(before) == 6
    assert all(owner.startswith('basicsr.') for owner in before.values()), before
    assert set(after.values()) == {'basicsr_noise.compat'}, after


def test_import_shim_makes_basicsr_importable():
    without = _python('import basicsr')
    if without.returncode == 0:
        pytest.skip('this torchvision still has functional_tensor; the shim is not needed')
    assert 'functional_tensor' in without.stderr
    with_shim = _python('import basicsr_noise, basicsr\n'
                        'from basicsr.data.degradations import random_add_gaussian_noise\nprint("ok")')
    assert with_shim.returncode == 0, with_shim.stderr
    assert with_shim.stdout.strip() == 'ok'


def _state_opt(tmp_path, auto_resume):
    states = tmp_path / 'root' / 'experiments' / 'x' / 'training_states'
    states.mkdir(parents=True)
    for it in (5, 12):
        torch.save({'epoch': 1, 'iter': it, 'optimizers': [], 'schedulers': []}, states / f'{it}.state')
    (states / 'notes.txt').write_text('not a state')
    return {
        'name': 'x', 'auto_resume': auto_resume, 'num_gpu': 0, 'network_g': {'type': 'R2RDnCNN'},
        'path': {'training_states': str(states), 'models': str(tmp_path / 'root' / 'experiments' / 'x' / 'models'),
                 'resume_state': None}
    }


def test_resume_state_loads_on_cpu_from_the_experiment_root(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # the current directory is not the root: basicsr would look in ./experiments
    opt = _state_opt(tmp_path, auto_resume=True)
    state = compat.load_resume_state(opt)
    assert state['iter'] == 12
    assert opt['path']['resume_state'].endswith('12.state')
    assert opt['path']['pretrain_network_g'].endswith(os.path.join('models', 'net_g_12.pth'))


def test_original_resume_fails_on_cpu(tmp_path):
    if torch.cuda.is_available():
        pytest.skip('the original only fails without CUDA')
    opt = _state_opt(tmp_path, auto_resume=False)
    opt['path']['resume_state'] = opt['path']['training_states'] + '/5.state'
    with pytest.raises((RuntimeError, AssertionError)):
        compat.ORIGINALS['load_resume_state'](opt)
    assert compat.load_resume_state(opt)['iter'] == 5


def test_missing_resume_state_is_named(tmp_path):
    opt = _state_opt(tmp_path, auto_resume=False)
    opt['path']['resume_state'] = str(tmp_path / 'nope.state')
    with pytest.raises(FileNotFoundError, match='nope.state'):
        compat.load_resume_state(opt)


def test_local_rank_dash_is_rewritten(tmp_path, monkeypatch):
    opt_file = tmp_path / 'o.yml'
    opt_file.write_text('name: x\nmodel_type: SRModel\nnum_gpu: 0\nmanual_seed: 1\nscale: 1\ndatasets: {}\n'
                        'path: {}\nlogger: {}\n')
    argv = ['prog', '-opt', str(opt_file), '--local-rank=0']
    monkeypatch.setattr(sys, 'argv', argv)
    with pytest.raises(SystemExit):  # basicsr's own parser rejects the torch>=2 launcher flag
        parse_options(str(tmp_path), is_train=False)
    monkeypatch.setattr(sys, 'argv', compat.rewrite_local_rank(argv))
    opt, args = parse_options(str(tmp_path), is_train=False)
    assert args.local_rank == 0 and opt['name'] == 'x'


def test_jpeg_quality_float_is_accepted():
    img = np.random.default_rng(0).uniform(0, 1, (32, 32, 3)).astype(np.float32)
    with pytest.raises(cv2.error):  # OpenCV >= 4.8 rejects the float quality basicsr passes
        compat.ORIGINALS['add_jpg_compression'](img, quality=np.float64(80.0))
    out = compat.add_jpg_compression(img, quality=np.float64(80.0))
    expected = compat.ORIGINALS['add_jpg_compression'](img, quality=80)
    np.testing.assert_array_equal(out, expected)
    from basicsr.data import degradations
    assert degradations.add_jpg_compression is compat.add_jpg_compression


def test_pytorch_launcher_runs_on_cpu_with_gloo(monkeypatch):
    if torch.cuda.is_available():
        pytest.skip('checks the CPU path')
    from basicsr.utils import dist_util
    monkeypatch.setenv('RANK', '0')
    with pytest.raises(ZeroDivisionError):  # basicsr: torch.cuda.set_device(rank % 0)
        dist_util._init_dist_pytorch('gloo')
    monkeypatch.setenv('WORLD_SIZE', '1')
    monkeypatch.setenv('LOCAL_RANK', '0')
    monkeypatch.setenv('MASTER_ADDR', '127.0.0.1')
    monkeypatch.setenv('MASTER_PORT', str(free_port()))
    compat.init_dist('pytorch')
    try:
        assert torch.distributed.get_backend() == 'gloo'
    finally:
        torch.distributed.destroy_process_group()


class _Data(torch.utils.data.Dataset):

    def __len__(self):
        return 5

    def __getitem__(self, index):
        return index


def test_resumable_sampler_keeps_basicsr_order_and_skips():
    import basicsr.train
    sampler_cls = basicsr.train.EnlargedSampler
    ours, theirs = sampler_cls(_Data(), 2, 1, ratio=3), EnlargedSampler(_Data(), 2, 1, ratio=3)
    for epoch in (0, 3):
        ours.set_epoch(epoch)
        theirs.set_epoch(epoch)
        assert [int(i) for i in ours] == list(theirs)
    draws = [i.draw for i in ours]
    assert len(set(draws)) == len(draws)  # repeated indices of an enlarged dataset get distinct draws
    full = list(ours)
    ours.skip, ours.skip_epoch = 3, 3
    for _ in range(2):  # every iterator of the resumed epoch skips (CPUPrefetcher makes two)
        assert [(int(i), i.draw) for i in ours] == [(int(i), i.draw) for i in full[3:]]
    ours.set_epoch(4)
    assert len(list(ours)) == len(full)  # the skip applies to the resumed epoch only
    restored = pickle.loads(pickle.dumps(full[1]))  # indices travel to DataLoader workers
    assert (int(restored), restored.draw) == (int(full[1]), full[1].draw)
