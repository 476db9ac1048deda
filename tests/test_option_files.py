"""Every option file the project ships passes the preflight checks and builds its model."""
import copy
import glob
import os
import pytest
import torch
from basicsr.archs import build_network
from basicsr.models import build_model
from conftest import REPO, SHARED_DATA
from os import path as osp
from torchvision.models import vgg as tv_vgg

from basicsr_noise.utils.option_check import check_options
from basicsr_noise.utils.options import OptionError, apply_force_yml, load_options

OPTION_FILES = sorted(
    p for p in glob.glob(osp.join(REPO, 'options', '**', '*.yml'), recursive=True)
    if f'{osp.sep}_base_{osp.sep}' not in p)  # blocks merged into the others, not runnable alone
BEFORE = osp.join(REPO, 'tests', 'data', 'options_before_base')  # the option files as they were before _base_


def _stage_recipes():
    """New file -> (the old file it came from, the --force_yml entries of the old file's header for that run)."""
    # deliberate changes since, each matched on the official code's fixture (tests/test_official_training.py):
    # R2R's official loss scale, the grey DBSN noise estimator's 3e-4 and gray_pretrain_mu.py's MSE scale
    r2r_sum = ['train:pixel_opt:reduction=sum']
    grey_dbsn = ['network_noise:output_offset=0.0003', 'train:pixel_opt:loss_weight=0.0625']
    recipes = {
        'r2r/r2r_sidd.yml': ('r2r.yml', r2r_sum + ['train:pixel_opt:loss_weight=0.0078125']),
        'r2r/r2r_awgn.yml': ('r2r_awgn.yml', r2r_sum + ['train:pixel_opt:loss_weight=0.00390625']),
        'dbsn/dbsn_distill_grey_awgn25.yml': ('dbsn_distill_grey_awgn25.yml', []),
        'demo/r2r_demo.yml': ('r2r_demo.yml', [])
    }
    mu_weights = 'path:pretrain_network_g=experiments/{}_mu/models/net_g_latest.pth'
    for stem, name in (('grey_awgn25', 'DBSN_grey_AWGN25'), ('grey_hetero', 'DBSN_grey_HG40_10')):
        old = f'dbsn_{stem}.yml'
        recipes[f'dbsn/dbsn_{stem}_mu.yml'] = (old, ['dbsn:stage=mu', f'name={name}_mu'] + grey_dbsn)
        recipes[f'dbsn/dbsn_{stem}_joint.yml'] = (old, [mu_weights.format(name)] + grey_dbsn)
    for stem, name in (('awgn25', 'DBSN_colour_AWGN25'), ('hetero', 'DBSN_colour_HG40_10'), ('multivariate',
                                                                                             'DBSN_colour_MG75')):
        old = f'dbsn_colour_{stem}.yml'
        # the first two stages validate and save every 5000 iterations, not 540: they run 300k and 150k iterations
        every_5000 = ['val:val_freq=5000', 'logger:save_checkpoint_freq=5000']
        recipes[f'dbsn/dbsn_colour_{stem}_mu.yml'] = (old, [
            'dbsn:stage=mu', f'name={name}_mu', 'train:optim_g:lr=0.0003', 'train:total_iter=300000',
            'train:scheduler:milestones=[60000,180000,210000,240000,270000]', *every_5000
        ])
        recipes[f'dbsn/dbsn_colour_{stem}_sigma.yml'] = (old, [
            'dbsn:stage=sigma', f'name={name}_sigma', 'train:optim_g:lr=0.0003', 'train:total_iter=150000',
            'train:scheduler:milestones=[60000,90000,120000]',
            mu_weights.format(name), *every_5000
        ])
        recipes[f'dbsn/dbsn_colour_{stem}_joint.yml'] = (old, [
            mu_weights.format(name), f'path:pretrain_network_sigma_mu=experiments/{name}_sigma/models/'
            'net_sigma_mu_latest.pth',
            f'path:pretrain_network_noise=experiments/{name}_sigma/models/net_noise_latest.pth'
        ])
    recipes['demo/dbsn_demo_mu.yml'] = ('dbsn_demo.yml', ['dbsn:stage=mu', 'name=DBSN_demo_mu'])
    recipes['demo/dbsn_demo.yml'] = ('dbsn_demo.yml', [mu_weights.format('DBSN_demo')])
    return recipes


def test_the_expected_option_files_exist():
    names = {osp.relpath(p, osp.join(REPO, 'options')) for p in OPTION_FILES}
    assert {'test/r2r_sidd_official.yml', 'demo/r2r_demo_test.yml', 'demo/dbsn_demo_test.yml'} <= names
    assert {'ntgan.yml', 'ntgan/ntgan.yml', 'ntgan/ntgan_test_dnd_cc.yml', 'demo/ntgan_demo.yml',
            'demo/ntgan_demo_test.yml'} <= names
    assert {'pngan.yml', 'pngan/pngan_sidd.yml', 'pngan/pngan_sidd_unsupervised_dd.yml'} <= names
    assert {'noisetransfer.yml', 'noisetransfer/noisetransfer_sidd.yml',
            'noisetransfer/noisetransfer_camsim.yml'} <= names
    assert {'mixing/ridnet_sidd_pngan.yml', 'mixing/swinir_sidd_pngan.yml'} <= names
    assert set(_stage_recipes()) <= names


@pytest.mark.parametrize('new', sorted(_stage_recipes()))
def test_merged_files_equal_the_files_before_base_value_for_value(new):
    """Every file moved onto _base_ blocks merges to the old file, with its documented stage overrides applied."""
    old, overrides = _stage_recipes()[new]
    expected = apply_force_yml(load_options(osp.join(BEFORE, old)), overrides)
    merged = load_options(osp.join(REPO, 'options', new))
    assert merged == expected


@pytest.fixture(scope='module')
def vgg19_features(tmp_path_factory):
    """torchvision VGG-19 convolutional weights up to relu5_4 (random), standing in for the local ImageNet copy."""
    torch.manual_seed(0)
    features = tv_vgg.make_layers(tv_vgg.cfgs['E'])[:36]
    path = tmp_path_factory.mktemp('vgg') / 'vgg19_features.pth'
    torch.save({f'features.{k}': v for k, v in features.state_dict().items()}, path)
    return str(path)


def _frozen_network_checkpoints(opt, folder):
    """Checkpoints with the architectures of the frozen networks an option file loads (distillation teachers,
    PNGAN's D_d), random weights."""
    for key in [k for k in opt['path'] if k.startswith('pretrain_network_teacher')] + (
            ['pretrain_network_dd'] if 'network_dd' in opt else []):
        net_key = key[len('pretrain_'):]
        ckpt = folder / f'{net_key}.pth'
        params = build_network(dict(opt[net_key])).state_dict()
        torch.save({'params': params, 'params_ema': params}, ckpt)  # as a GAN run's checkpoint
        opt['path'][key] = str(ckpt)


@pytest.mark.parametrize('path', OPTION_FILES, ids=lambda p: osp.relpath(p, REPO))
def test_option_file_is_valid_and_builds(path, tiny_data, tmp_path, vgg19_features):
    opt = load_options(path)
    is_train = 'train' in opt
    opt['num_gpu'] = 0
    for phase, dataset_opt in opt['datasets'].items():
        dataset_opt['phase'] = phase.split('_')[0]
        dataset_opt['io_backend'] = {'type': 'disk'}
        if 'branches' in dataset_opt:  # NoiseReferenceMixDataset: each branch on the tiny pairs
            for branch in dataset_opt['branches']:
                branch.update(io_backend={'type': 'disk'}, dataroot_gt=str(tiny_data / 'val' / 'clean'), gt_size=16)
                if 'dataroot_lq' in branch:  # real pairs: one reference class (the tiny names are not SIDD's)
                    classes = tmp_path / 'classes.txt'
                    classes.write_text(''.join(f'{n} x\n' for n in os.listdir(tiny_data / 'val' / 'clean')))
                    branch.update(dataroot_lq=str(tiny_data / 'val' / 'noisy'), reference_class_file=str(classes))
            continue
        dataset_opt['dataroot_lq'] = str(tiny_data / 'val' / 'noisy')
        for key in ('dataroot_gt', 'dataroot_clean'):
            if key in dataset_opt:
                dataset_opt[key] = str(tiny_data / 'val' / 'clean')
    for key in opt['path']:  # trained weights the file names are not here; distillation teachers are made below
        if key.startswith('pretrain_network_'):
            opt['path'][key] = None
    _frozen_network_checkpoints(opt, tmp_path)
    mixing_noise = (opt.get('mixing') or {}).get('noise_opt') or {}
    if mixing_noise.get('type') == 'GeneratorNoise':  # a generator checkpoint as PNGANModel writes one
        generator = {'type': 'SMNet', 'num_feat': 8}
        torch.save({'params': build_network(dict(generator)).state_dict(),
                    'meta': {'network_g': generator, 'input_noise': {'type': 'AWGNNoise', 'sigma': 50}}},
                   tmp_path / 'generator.pth')
        mixing_noise['checkpoint'] = str(tmp_path / 'generator.pth')
    perceptual = (opt.get('train') or {}).get('perceptual_opt') or {}
    if perceptual.get('type') == 'PNGANPerceptualLoss':
        perceptual['vgg_weights'] = vgg19_features
    noise_opt = (opt.get('ntgan') or {}).get('noise_opt') or {}
    if noise_opt.get('crf') == 'dorf':  # the curves are data: the shared copy, else the parametric family
        dorf = osp.join(SHARED_DATA, 'dorf')
        noise_opt.update(dorf_dir=dorf) if osp.isdir(dorf) else noise_opt.update(crf='gamma')
    check_options(opt, path, is_train=is_train)
    opt.update(is_train=is_train, dist=False, rank=0, world_size=1)
    opt['path'].update(models='/nonexistent', training_states='/nonexistent', visualization='/nonexistent')
    model = build_model(copy.deepcopy(opt))
    assert type(model).__name__ == opt['model_type']
    if opt['model_type'] == 'DBSNModel':  # the earlier stages named in the file's header build too
        for stage in ('mu', 'sigma'):
            build_model(copy.deepcopy(dict(opt, dbsn=dict(opt['dbsn'], stage=stage))))


def test_preflight_names_the_file_and_the_key(tiny_data):
    opt = load_options(osp.join(REPO, 'options', 'r2r', 'r2r_awgn.yml'))
    opt['num_gpu'] = 0
    with pytest.raises(OptionError, match=r'r2r_awgn.yml: datasets.train.dataroot_lq = .* does not exist'):
        check_options(opt, 'r2r_awgn.yml')
    with pytest.raises(OptionError, match='does not exist'):
        load_options('/no/such/options.yml')
