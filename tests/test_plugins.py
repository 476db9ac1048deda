"""Plugins: the entry-point group basicsr.plugins, --plugin and plugins: [...], and the console scripts."""
import glob
import os
import pytest
import shutil
import sys
import textwrap
import torch
from conftest import r2r_options, run_cli, write_options
from importlib import metadata
from os import path as osp


def test_this_package_is_registered_as_a_plugin():
    values = {ep.value for ep in metadata.entry_points(group='basicsr.plugins')}
    assert 'basicsr_noise' in values
    scripts = {ep.name for ep in metadata.entry_points(group='console_scripts') if ep.value == 'basicsr_noise.cli:main'}
    assert {'basicsr', 'basicsr-noise'} <= scripts


def _fake_plugin(root):
    """A third-party plugin, installed the way pip would: a module plus a dist-info with an entry point."""
    (root / 'fake_noise_plugin.py').write_text(
        textwrap.dedent('''
        from torch import nn
        from basicsr.utils.registry import ARCH_REGISTRY


        @ARCH_REGISTRY.register()
        class FakePluginTinyNet(nn.Module):

            def __init__(self, num_in_ch=3):
                super().__init__()
                self.conv = nn.Conv2d(num_in_ch, num_in_ch, 3, 1, 1)

            def forward(self, x):
                return x - self.conv(x)
        '''))
    info = root / 'fake_noise_plugin-0.1.dist-info'
    info.mkdir()
    (info / 'METADATA').write_text('Metadata-Version: 2.1\nName: fake-noise-plugin\nVersion: 0.1\n')
    (info / 'entry_points.txt').write_text('[basicsr.plugins]\nfake = fake_noise_plugin\n')


def test_the_command_imports_other_registered_plugins(tmp_path, tiny_data):
    site = tmp_path / 'site'
    site.mkdir()
    _fake_plugin(site)
    opt = r2r_options(tiny_data, **{'train.total_iter': 2, 'val.val_freq': 100, 'train.ema_decay': 0})
    opt['network_g'] = {'type': 'FakePluginTinyNet', 'num_in_ch': 3}
    opt_file = write_options(tmp_path / 'fake.yml', opt)
    without = run_cli(['train', '-opt', opt_file], cwd=tmp_path)
    assert without.returncode == 2 and "'FakePluginTinyNet'" in without.stderr
    env = {'PYTHONPATH': os.pathsep.join([str(site), os.environ.get('PYTHONPATH', '')])}
    result = run_cli(['train', '-opt', opt_file], cwd=tmp_path, env=env)
    assert result.returncode == 0, result.stderr[-2000:]
    ckpt = torch.load(tmp_path / 'experiments' / 'r2r_tiny' / 'models' / 'net_g_latest.pth', weights_only=True)
    assert set(ckpt['params']) == {'conv.weight', 'conv.bias'}


def test_basicsr_console_script_runs():
    script = osp.join(osp.dirname(sys.executable), 'basicsr')
    if not osp.exists(script):
        script = shutil.which('basicsr')
    assert script, 'the basicsr console script is not installed'
    result = run_cli(['--help'], cwd='.', prefix=[script])
    assert result.returncode == 0
    for command in ('train', 'test', 'infer', 'convert', 'fit-nlf', 'demo'):
        assert command in result.stdout


def _project_package(root):
    """A BasicSR-based project that declares no entry point: its own arch and model, in files BasicSR's scan finds
    (its subpackages' __init__ files import nothing)."""
    pkg = root / 'tinyproject'
    for sub in ('', 'archs', 'models'):
        (pkg / sub).mkdir(parents=True, exist_ok=True)
        (pkg / sub / '__init__.py').write_text('')
    (pkg / 'archs' / 'tiny_arch.py').write_text(
        textwrap.dedent('''
        from torch import nn
        from basicsr.utils.registry import ARCH_REGISTRY


        @ARCH_REGISTRY.register()
        class TinyProjectNet(nn.Module):

            def __init__(self, num_ch=3):
                super().__init__()
                self.body = nn.Conv2d(num_ch, num_ch, 3, 1, 1)

            def forward(self, x):
                return x + self.body(x)
        '''))
    (pkg / 'models' / 'tiny_model.py').write_text(
        textwrap.dedent('''
        from basicsr.models.sr_model import SRModel
        from basicsr.utils.registry import MODEL_REGISTRY


        @MODEL_REGISTRY.register()
        class TinyProjectModel(SRModel):
            """A supervised model of the project: counts its steps in the log."""

            def optimize_parameters(self, current_iter):
                super().optimize_parameters(current_iter)
                self.log_dict['l_tinyproject'] = float(current_iter)
        '''))


def _project_options(tiny_data, **extra):
    opt = r2r_options(tiny_data, **{
        'train.total_iter': 2,
        'val.val_freq': 100,
        'train.ema_decay': 0,
        'logger.print_freq': 1
    })
    opt.update(model_type='TinyProjectModel', network_g={'type': 'TinyProjectNet', 'num_ch': 3}, **extra)
    del opt['r2r']
    pairs = opt['datasets']['val']
    opt['datasets']['train'].update(dataroot_lq=pairs['dataroot_lq'], dataroot_gt=pairs['dataroot_gt'])
    return opt


@pytest.mark.parametrize('how', ['--plugin', 'plugins:'])
def test_any_basicsr_project_trains_as_a_plugin(tmp_path, tiny_data, how):
    _project_package(tmp_path)
    opt = _project_options(tiny_data, **({'plugins': ['tinyproject']} if how == 'plugins:' else {}))
    opt_file = write_options(tmp_path / 'project.yml', opt)
    result = run_cli(['train', '-opt', opt_file, *(['--plugin', 'tinyproject'] if how == '--plugin' else [])],
                     cwd=tmp_path)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    exp = tmp_path / 'experiments' / 'r2r_tiny'
    log = open(glob.glob(str(exp / 'train_*.log'))[0]).read()
    assert 'Model [TinyProjectModel] is created.' in log and 'l_tinyproject: 2.0000e+00' in log
    ckpt = torch.load(exp / 'models' / 'net_g_latest.pth', weights_only=True)
    assert set(ckpt['params']) == {'body.weight', 'body.bias'}


def test_without_the_plugin_the_project_is_unknown_and_an_unknown_plugin_is_named(tmp_path, tiny_data):
    _project_package(tmp_path)
    opt_file = write_options(tmp_path / 'project.yml', _project_options(tiny_data))
    result = run_cli(['train', '-opt', opt_file], cwd=tmp_path)
    assert result.returncode == 2 and "'TinyProjectModel'" in result.stderr and '--plugin' in result.stderr
    result = run_cli(['train', '-opt', opt_file, '--plugin', 'no_such_project'], cwd=tmp_path)
    assert result.returncode == 2 and "no module named 'no_such_project'" in result.stderr
    opt_file = write_options(tmp_path / 'listed.yml', _project_options(tiny_data, plugins=['also_missing']))
    result = run_cli(['train', '-opt', opt_file], cwd=tmp_path)
    assert result.returncode == 2 and 'listed.yml: plugins' in result.stderr and "'also_missing'" in result.stderr
    assert not osp.exists(tmp_path / 'experiments')
