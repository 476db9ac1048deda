"""PSNR gap (PGap, DANet): how well a noise source stands in for real noise when training a denoiser.

One fixed denoiser recipe (:data:`PGAP_RECIPE`) is trained twice through ``basicsr train``: on the real noisy/clean
training pairs, and on the same clean images with noise from the source under test. Like the real data, the source
gives one noisy version of each training image (seeded per image, rounded to uint8 and stored), so the two runs
differ in nothing but the noise; a source sampled afresh at every step would also gain from seeing more noise
realisations than the real data holds. Both denoisers are tested on the same real test pairs (BasicSR's PSNR: RGB,
rounded to uint8, no border crop). ``PGap = PSNR(real) - PSNR(source)``: 0 when the source is as good as real
noise, positive when it is worse.

Option file (``basicsr-noise pgap -opt X.yml``)::

    name: pgap_camsim_awgn
    num_gpu: 0                  # 1 for a GPU
    manual_seed: 0
    pgap:
      train: {dataroot_lq: .../train/noisy, dataroot_gt: .../train/clean}   # real pairs
      test: {dataroot_lq: .../test/noisy, dataroot_gt: .../test/clean}
      source: {type: noise_model, noise_opt: {type: AWGNNoise, sigma: 15}}
      recipe: {}                # overrides of PGAP_RECIPE; leave empty for comparable numbers

The denoiser trained on real pairs depends only on the data, the recipe and the seed, so it is trained once and
reused by every source compared on the same data (``experiments/pgap_real_<hash>``).
"""
import copy
import hashlib
import json
import numpy as np
import os
import subprocess
import sys
import torch
import yaml
from basicsr.metrics import calculate_psnr
from basicsr.utils import img2tensor, tensor2img
from os import path as osp

from basicsr_noise.data.generated_images import generate_noisy_images
from basicsr_noise.data.image_source import ImageSource
from basicsr_noise.noise import build_noise
from basicsr_noise.utils.denoiser import NetworkDenoiser
from basicsr_noise.utils.errors import InputError

PGAP_RECIPE = {
    'network_g': {
        'type': 'R2RDnCNN',
        'num_in_ch': 3,
        'num_feat': 64,
        'num_layers': 17
    },  # DnCNN-17
    'total_iter': 20000,
    'batch_size': 16,
    'patch_size': 64,
    'lr': 1e-3,
    'milestones': [0.6, 0.9],  # fractions of total_iter; the rate is multiplied by 0.1 at each
    'dataset_enlarge_ratio': 100,
    'num_worker': 2,
}
SOURCE_TYPES = ('noise_model', 'generator', 'folder')
PGAP_KEYS = {'train', 'test', 'source', 'recipe'}


def check_pgap_options(opt):
    """Validate a PGap option dict; raise :class:`InputError` naming the key."""
    pgap = opt.get('pgap')
    if not isinstance(pgap, dict):
        raise InputError('PGap options need a pgap section (train, test, source).')
    unknown = set(pgap) - PGAP_KEYS
    if unknown:
        raise InputError(f'pgap: unknown keys {sorted(unknown)}; known: {sorted(PGAP_KEYS)}.')
    for split in ('train', 'test'):
        for key in ('dataroot_lq', 'dataroot_gt'):
            path = (pgap.get(split) or {}).get(key)
            if path is None or not osp.exists(path):
                raise InputError(f'pgap.{split}.{key} = {path} does not exist.')
    source = pgap.get('source') or {}
    if source.get('type') == 'generator':
        pgap['source'] = source = generator_source(source)
    if source.get('type') not in SOURCE_TYPES:
        raise InputError(f'pgap.source.type must be one of {SOURCE_TYPES}, got {source.get("type")!r}.')
    if source['type'] == 'folder':  # noisy versions of the training clean images made elsewhere (same names)
        folder = source.get('dataroot')
        if folder is None or not osp.isdir(folder):
            raise InputError(f'pgap.source.dataroot = {folder} is not a folder (type folder: one noisy version of '
                             'every pgap.train.dataroot_gt image, same names).')
        clean_names = set(ImageSource(pgap['train']['dataroot_gt'], 'disk', what='pgap.train.dataroot_gt').names)
        missing = sorted(clean_names - set(ImageSource(folder, 'disk', what='pgap.source.dataroot').names))
        if missing:
            raise InputError(f'pgap.source.dataroot {folder} lacks the noisy versions of {missing[:5]}.')
        return
    try:
        build_noise(source.get('noise_opt'))
    except (ValueError, KeyError) as e:  # the noise library's own message, naming the key it comes from
        raise InputError(f'pgap.source.noise_opt: {e}') from e
    unknown = set(pgap.get('recipe') or {}) - set(PGAP_RECIPE)
    if unknown:
        raise InputError(f'pgap.recipe: unknown keys {sorted(unknown)}; known: {sorted(PGAP_RECIPE)}.')


def generator_source(source):
    """A ``{type: generator, checkpoint, ...}`` source as the ``noise_model`` source it stands for:
    ``GeneratorNoise`` with the other keys (``reference`` for NoiseTransfer, ``param_key``, ``tile_size``, ...)."""
    options = {k: v for k, v in source.items() if k != 'type'}
    if not options.get('checkpoint'):
        raise InputError('pgap.source: a generator source needs checkpoint (a generator net_g_*.pth).')
    return {'type': 'noise_model', 'noise_opt': {'type': 'GeneratorNoise', **options}}


def recipe_of(opt):
    recipe = copy.deepcopy(PGAP_RECIPE)
    recipe.update(copy.deepcopy(opt['pgap'].get('recipe') or {}))
    return recipe


def _train_options(opt, name, dataset, recipe):
    iters = int(recipe['total_iter'])
    dataset = dict(
        dataset,
        name=name,
        io_backend={'type': 'disk'},
        gt_size=recipe['patch_size'],
        use_hflip=True,
        use_rot=True,
        num_worker_per_gpu=recipe['num_worker'],
        batch_size_per_gpu=recipe['batch_size'],
        dataset_enlarge_ratio=recipe['dataset_enlarge_ratio'],
        prefetch_mode=None)
    return {
        'name': name,
        'model_type': 'SynthNoiseDenoiserModel',
        'scale': 1,
        'num_gpu': opt.get('num_gpu', 0),
        'manual_seed': opt.get('manual_seed', 0),
        'datasets': {
            'train': dataset
        },
        'network_g': recipe['network_g'],
        'path': {
            'pretrain_network_g': None,
            'strict_load_g': True,
            'resume_state': None
        },
        'train': {
            'ema_decay': 0,
            'optim_g': {
                'type': 'Adam',
                'lr': recipe['lr'],
                'betas': [0.9, 0.999]
            },
            'scheduler': {
                'type': 'MultiStepLR',
                'milestones': [max(1, int(iters * f)) for f in recipe['milestones']],
                'gamma': 0.1
            },
            'total_iter': iters,
            'warmup_iter': -1,
            'pixel_opt': {
                'type': 'MSELoss',
                'loss_weight': 1.0,
                'reduction': 'mean'
            }
        },
        'logger': {
            'print_freq': 100,
            'save_checkpoint_freq': max(iters // 4, 1),
            'use_tb_logger': False
        },
        'dist_params': {
            'backend': 'gloo',
            'port': 29500
        },
    }


def real_run_name(opt, recipe):
    """The run on real pairs is named by what determines it, so that sources compared on one dataset share it."""
    train = opt['pgap']['train']
    key = json.dumps(
        [osp.abspath(train['dataroot_lq']),
         osp.abspath(train['dataroot_gt']), recipe,
         opt.get('manual_seed', 0)],
        sort_keys=True)
    return 'pgap_real_' + hashlib.sha1(key.encode()).hexdigest()[:10]


def materialise_source(noise_opt, clean_root, output, seed):
    """Write one noisy version of every clean image (uint8 PNG, same names), noise seeded ``seed + index``."""
    generate_noisy_images(build_noise(noise_opt), clean_root, output, num=1, seed=seed, overwrite=True)
    return output


def _train(opt_dict, root, log):
    weights = osp.join(root, 'experiments', opt_dict['name'], 'models', 'net_g_latest.pth')
    if osp.isfile(weights):
        log(f'{opt_dict["name"]}: trained already, reusing {weights}')
        return weights
    os.makedirs(osp.join(root, 'experiments'), exist_ok=True)
    opt_path = osp.join(root, 'experiments', f'{opt_dict["name"]}.yml')
    with open(opt_path, 'w') as f:
        yaml.safe_dump(opt_dict, f, sort_keys=False)
    log(f'$ basicsr train -opt {opt_path}')
    subprocess.run([sys.executable, '-m', 'basicsr_noise', 'train', '-opt', opt_path], cwd=root, check=True)
    return weights


def evaluate_denoiser(weights, test, device):
    """Per-image PSNR (BasicSR convention) of a trained checkpoint on test pairs; ``{name: psnr}``."""
    net = NetworkDenoiser(weights, device)
    noisy = ImageSource(test['dataroot_lq'], 'disk', what='pgap.test.dataroot_lq')
    clean = ImageSource(test['dataroot_gt'], 'disk', names=noisy.names, what='pgap.test.dataroot_gt')
    scores = {}
    with torch.no_grad():
        for name in noisy.names:
            lq = img2tensor(noisy.read(name), bgr2rgb=True, float32=True)[None].to(device)
            out = tensor2img(net(lq).clamp(0, 1))
            scores[name] = calculate_psnr(out, tensor2img(img2tensor(clean.read(name), bgr2rgb=True)), 0)
    return scores


def run_pgap(opt, root='.', log=print):
    """Train both denoisers (or reuse them) and test; returns the result dict also written to ``results/``."""
    opt = json.loads(json.dumps(opt))  # plain containers (the YAML loader gives OrderedDicts)
    check_pgap_options(opt)
    recipe = recipe_of(opt)
    pgap = opt['pgap']
    device = torch.device('cuda' if opt.get('num_gpu', 0) != 0 and torch.cuda.is_available() else 'cpu')
    real = _train_options(
        opt, real_run_name(opt, recipe), {
            'type': 'NoisyImageDataset',
            'dataroot_lq': pgap['train']['dataroot_lq'],
            'dataroot_gt': pgap['train']['dataroot_gt']
        }, recipe)
    source_name = f'{opt["name"]}_source'
    source_noisy = osp.join(root, 'experiments', f'{source_name}_train_noisy')
    if pgap['source']['type'] == 'folder':
        source_noisy = pgap['source']['dataroot']
    elif not osp.isfile(osp.join(root, 'experiments', source_name, 'models', 'net_g_latest.pth')):
        materialise_source(pgap['source']['noise_opt'], pgap['train']['dataroot_gt'], source_noisy,
                           opt.get('manual_seed', 0))
    source = _train_options(opt, source_name, {
        'type': 'NoisyImageDataset',
        'dataroot_lq': source_noisy,
        'dataroot_gt': pgap['train']['dataroot_gt']
    }, recipe)
    weights = {'real': _train(real, root, log), 'source': _train(source, root, log)}
    scores = {k: evaluate_denoiser(w, pgap['test'], device) for k, w in weights.items()}
    means = {k: float(np.mean(list(v.values()))) for k, v in scores.items()}
    result = {
        'name': opt['name'],
        'psnr_real_trained': means['real'],
        'psnr_source_trained': means['source'],
        'pgap': means['real'] - means['source'],
        'source': pgap['source'],
        'recipe': recipe,
        'train': pgap['train'],
        'test': pgap['test'],
        'per_image': scores,
        'weights': weights
    }
    out_dir = osp.join(root, 'results', opt['name'])
    os.makedirs(out_dir, exist_ok=True)
    with open(osp.join(out_dir, 'pgap.json'), 'w') as f:
        json.dump(result, f, indent=2)
    log(f'\nPGap {opt["name"]} on {len(scores["real"])} test images ({pgap["test"]["dataroot_lq"]}):')
    log(f'  denoiser trained on real pairs      {means["real"]:.2f} dB')
    log(f'  denoiser trained on the source      {means["source"]:.2f} dB')
    log(f'  PGap                                {result["pgap"]:.2f} dB   ({osp.join(out_dir, "pgap.json")})')
    return result
