"""Plugin discovery through the entry-point group basicsr.plugins, and the console scripts."""
import os
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
    (root / 'fake_noise_plugin.py').write_text(textwrap.dedent('''
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
