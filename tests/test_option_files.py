"""Every option file the project ships passes the preflight checks and builds its model."""
import copy
import glob
import pytest
import torch
from basicsr.archs import build_network
from basicsr.models import build_model
from conftest import REPO
from os import path as osp

from basicsr_noise.utils.option_check import OptionError, check_options, load_options

OPTION_FILES = sorted(glob.glob(osp.join(REPO, 'options', '**', '*.yml'), recursive=True))


def test_the_expected_option_files_exist():
    names = {osp.relpath(p, osp.join(REPO, 'options')) for p in OPTION_FILES}
    assert {'r2r.yml', 'r2r_awgn.yml', 'test/r2r_sidd_official.yml', 'demo/r2r_demo.yml'} <= names
    dbsn = {f'dbsn/dbsn_{n}.yml' for n in ('grey_awgn25', 'grey_hetero', 'colour_awgn25', 'colour_hetero',
                                           'colour_multivariate', 'distill_grey_awgn25')}
    assert dbsn <= names


def _teacher_checkpoints(opt, folder):
    """Checkpoints with the teacher architectures of a distillation option file (random weights)."""
    for key in [k for k in opt['path'] if k.startswith('pretrain_network_teacher')]:
        net_key = key[len('pretrain_'):]
        ckpt = folder / f'{net_key}.pth'
        torch.save({'params': build_network(dict(opt[net_key])).state_dict()}, ckpt)
        opt['path'][key] = str(ckpt)


@pytest.mark.parametrize('path', OPTION_FILES, ids=lambda p: osp.relpath(p, REPO))
def test_option_file_is_valid_and_builds(path, tiny_data, tmp_path):
    opt = load_options(path)
    is_train = 'train' in opt
    opt['num_gpu'] = 0
    for phase, dataset_opt in opt['datasets'].items():
        dataset_opt['phase'] = phase.split('_')[0]
        dataset_opt['io_backend'] = {'type': 'disk'}
        dataset_opt['dataroot_lq'] = str(tiny_data / 'val' / 'noisy')
        if 'dataroot_gt' in dataset_opt:
            dataset_opt['dataroot_gt'] = str(tiny_data / 'val' / 'clean')
    for key in opt['path']:  # trained weights the file names are not here; distillation teachers are made below
        if key.startswith('pretrain_network_'):
            opt['path'][key] = None
    _teacher_checkpoints(opt, tmp_path)
    check_options(opt, path, is_train=is_train)
    opt.update(is_train=is_train, dist=False, rank=0, world_size=1)
    opt['path'].update(models='/nonexistent', training_states='/nonexistent', visualization='/nonexistent')
    model = build_model(copy.deepcopy(opt))
    assert type(model).__name__ == opt['model_type']
    if opt['model_type'] == 'DBSNModel':  # the earlier stages named in the file's header build too
        for stage in ('mu', 'sigma'):
            build_model(copy.deepcopy(dict(opt, dbsn=dict(opt['dbsn'], stage=stage))))


def test_preflight_names_the_file_and_the_key(tiny_data):
    opt = load_options(osp.join(REPO, 'options', 'r2r_awgn.yml'))
    opt['num_gpu'] = 0
    with pytest.raises(OptionError, match=r'r2r_awgn.yml: datasets.train.dataroot_lq = .* does not exist'):
        check_options(opt, 'r2r_awgn.yml')
    with pytest.raises(OptionError, match='does not exist'):
        load_options('/no/such/options.yml')
