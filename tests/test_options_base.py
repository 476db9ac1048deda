"""Option files with _base_ inheritance (mmengine's merge and _delete_), through basicsr train and show-options."""
import glob
import os
import torch
import yaml
from conftest import REPO, r2r_options, run_cli
from os import path as osp

from basicsr_noise.utils.options import load_options


def _split_into_base_and_child(tmp_path, tiny_data):
    """A tiny R2R run written as a base file (everything) and a child that overrides three values."""
    base = r2r_options(tiny_data, **{'train.total_iter': 4, 'val.val_freq': 100, 'logger.save_checkpoint_freq': 2})
    base['train']['pixel_opt'] = {'type': 'L1Loss', 'loss_weight': 1.0, 'reduction': 'mean'}
    (tmp_path / 'opts' / '_base_').mkdir(parents=True)
    with open(tmp_path / 'opts' / '_base_' / 'tiny.yml', 'w') as f:
        yaml.safe_dump(base, f, sort_keys=False)
    child = tmp_path / 'opts' / 'child.yml'
    child.write_text('_base_: [_base_/tiny.yml]\n'
                     'name: r2r_child\n'
                     'train:\n'
                     '  optim_g: {lr: !!float 5e-4}\n'  # merged into the base's optim_g
                     '  pixel_opt: {_delete_: true, type: MSELoss}\n')  # replaces the base's dict
    return str(child)


def test_merge_follows_mmengine(tmp_path, tiny_data):
    opt = load_options(_split_into_base_and_child(tmp_path, tiny_data))
    assert '_base_' not in opt and opt['name'] == 'r2r_child'
    assert opt['train']['optim_g'] == {'type': 'Adam', 'lr': 5e-4, 'betas': [0.9, 0.99]}
    assert opt['train']['pixel_opt'] == {'type': 'MSELoss'}
    assert opt['train']['total_iter'] == 4 and opt['r2r']['alpha'] == 0.5
    assert list(opt)[:2] == ['name', 'model_type']  # written in BasicSR's usual order


def test_basicsr_train_on_a_file_with_bases_keeps_the_merged_copy(tmp_path, tiny_data):
    child = _split_into_base_and_child(tmp_path, tiny_data)
    result = run_cli(['train', '-opt', child], cwd=tmp_path)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    exp = tmp_path / 'experiments' / 'r2r_child'
    assert sorted(os.listdir(exp / 'models')) == ['net_g_2.pth', 'net_g_4.pth', 'net_g_latest.pth']
    kept = exp / 'child.yml'  # BasicSR's copy of the option file, under the user's file name
    copied = yaml.safe_load(kept.read_text())
    assert '_base_' not in copied and copied['train']['pixel_opt'] == {'type': 'MSELoss'}
    assert copied['datasets']['train']['dataroot_lq'] == str(tiny_data / 'train' / 'noisy')
    log = open(glob.glob(str(exp / 'train_*.log'))[0]).read()
    assert 'Loss [MSELoss] is created.' in log  # the child's loss, not the base's L1Loss
    state = torch.load(exp / 'training_states' / '4.state', weights_only=False)
    assert state['optimizers'][0]['param_groups'][0]['lr'] == 5e-4  # the child's rate, merged into the base's Adam
    assert not glob.glob(osp.join(os.environ.get('TMPDIR', '/tmp'), 'basicsr_noise_options_*', 'child.yml'))


def test_show_options_prints_the_merged_file_with_overrides(tmp_path, tiny_data):
    child = _split_into_base_and_child(tmp_path, tiny_data)
    result = run_cli(['show-options', child, '--force_yml', 'train:total_iter=9'], cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    shown = yaml.safe_load(result.stdout)
    expected = load_options(child)
    expected['train']['total_iter'] = 9
    assert shown == expected


def test_a_missing_base_is_named_before_anything_is_written(tmp_path, tiny_data):
    child = tmp_path / 'broken.yml'
    child.write_text('_base_: [no_such_base.yml]\nname: x\n')
    result = run_cli(['train', '-opt', str(child)], cwd=tmp_path)
    assert result.returncode == 2 and 'no_such_base.yml' in result.stderr and 'does not exist' in result.stderr
    assert not osp.exists(tmp_path / 'experiments')


def test_docs_options_lists_every_base_block_and_only_existing_ones():
    import re
    base = osp.join(REPO, 'options', '_base_')
    on_disk = {osp.relpath(osp.join(d, f), base) for d, _, files in os.walk(base) for f in files if f.endswith('.yml')}
    docs = open(osp.join(REPO, 'docs', 'options.md')).read()
    table = docs[docs.index('`options/_base_/` holds'):docs.index('## All models')]
    named = set(re.findall(r'`([\w/]+\.yml)`', table))
    assert on_disk - named == set(), 'base blocks missing from docs/options.md'
    assert named - on_disk == set(), 'docs/options.md names base blocks that do not exist'
