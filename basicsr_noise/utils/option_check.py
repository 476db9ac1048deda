"""Checks of an option file before BasicSR starts: a bad key or path fails with its name, before anything is written."""
import copy
import os
import torch
from basicsr.utils.registry import ARCH_REGISTRY, DATASET_REGISTRY, LOSS_REGISTRY, METRIC_REGISTRY, MODEL_REGISTRY
from os import path as osp

from basicsr_noise.utils.options import OptionError
from basicsr_noise.utils.suggest import did_you_mean


def _registered(registry, name):
    return name in registry or f'{name}_basicsr' in registry


def _check_type(registry, what, where, name, path):
    if name is None:
        raise OptionError(f'{path}: {where} has no type.')
    if not _registered(registry, name):
        raise OptionError(f'{path}: unknown {what} {where} = {name!r}.{did_you_mean(name, registry.keys())} Is the '
                          'plugin that provides it installed, or named with --plugin / plugins: [...]?')


def check_options(opt, path, is_train=True):
    """Validate an option dict read from ``path``; raise :class:`OptionError` naming the culprit."""
    for key in ('name', 'model_type', 'num_gpu'):
        if key not in opt:
            raise OptionError(f'{path}: missing top-level key {key!r}.')
    _check_type(MODEL_REGISTRY, 'model', 'model_type', opt['model_type'], path)

    num_gpu = opt['num_gpu']
    if num_gpu != 'auto' and int(num_gpu) > 0 and not torch.cuda.is_available():
        raise OptionError(f'{path}: num_gpu is {num_gpu} but CUDA is not available here; use num_gpu: 0 for CPU.')
    cpu = num_gpu == 0 or (num_gpu == 'auto' and not torch.cuda.is_available())

    for key, value in opt.items():
        if key.startswith('network_'):
            _check_type(ARCH_REGISTRY, 'arch', f'{key}.type', (value or {}).get('type'), path)

    datasets = opt.get('datasets') or {}
    if is_train and 'train' not in datasets:
        raise OptionError(f'{path}: datasets.train is missing.')
    for phase, dataset_opt in datasets.items():
        _check_type(DATASET_REGISTRY, 'dataset', f'datasets.{phase}.type', dataset_opt.get('type'), path)
        for key, value in dataset_opt.items():
            if (key.startswith('dataroot_') or key == 'meta_info_file') and isinstance(value, str):
                if not osp.exists(os.path.expanduser(value)):
                    raise OptionError(f'{path}: datasets.{phase}.{key} = {value} does not exist.')
        if cpu and dataset_opt.get('prefetch_mode') == 'cuda':
            raise OptionError(f'{path}: datasets.{phase}.prefetch_mode is cuda, which needs a GPU; use cpu or ~.')

    if is_train:
        train_opt = opt.get('train')
        if not isinstance(train_opt, dict):
            raise OptionError(f'{path}: the train section is missing.')
        if 'total_iter' not in train_opt:
            raise OptionError(f'{path}: train.total_iter is missing.')
        for key, value in train_opt.items():
            if key.endswith('_opt') and isinstance(value, dict):
                _check_type(LOSS_REGISTRY, 'loss', f'train.{key}.type', value.get('type'), path)
    for key, value in ((opt.get('val') or {}).get('metrics') or {}).items():
        _check_type(METRIC_REGISTRY, 'metric', f'val.metrics.{key}.type', (value or {}).get('type'), path)
    _check_save_best(opt, path)

    for key, value in (opt.get('path') or {}).items():
        if key.startswith('pretrain_network_') and value is not None and not osp.isfile(value):
            raise OptionError(f'{path}: path.{key} = {value} does not exist.')

    model_cls = MODEL_REGISTRY.get(opt['model_type']) if opt['model_type'] in MODEL_REGISTRY else None
    if model_cls is not None and hasattr(model_cls, 'check_options'):
        try:
            model_cls.check_options(opt)
            if hasattr(model_cls, 'check_networks'):
                model_cls.check_networks(opt)
        except ValueError as e:
            raise OptionError(f'{path}: {e}') from e


SAVE_BEST_KEYS = ('metric', 'mode', 'dataset')


def _check_save_best(opt, path):
    """``val.save_best: {metric, mode: min|max, dataset}``: the metric must be one validation computes, a
    ``val.metrics`` name or an extra result's ``<result>_<name>`` (DBSN's ``mu_psnr``)."""
    val = opt.get('val') or {}
    best = val.get('save_best')
    if best is None:
        return
    if not isinstance(best, dict) or 'metric' not in best:
        raise OptionError(f'{path}: val.save_best must be a mapping with metric (and mode: min|max), got {best!r}.')
    for key in best:
        if key not in SAVE_BEST_KEYS:
            raise OptionError(f'{path}: unknown option val.save_best.{key}.{did_you_mean(key, SAVE_BEST_KEYS)}')
    if best.get('mode', 'max') not in ('min', 'max'):
        raise OptionError(f'{path}: val.save_best.mode must be min or max, got {best["mode"]!r}.')
    metrics = list(val.get('metrics') or {})
    name = best['metric']
    if name not in metrics and not any(str(name).endswith(f'_{m}') for m in metrics):
        raise OptionError(f'{path}: val.save_best.metric = {name!r} is not computed by validation (val.metrics: '
                          f'{metrics}).{did_you_mean(str(name), metrics)}')
    val_sets = [k for k in (opt.get('datasets') or {}) if k.startswith('val')]
    names = [opt['datasets'][k].get('name') for k in val_sets]
    if 'dataset' in best and best['dataset'] not in names:
        raise OptionError(f'{path}: val.save_best.dataset = {best["dataset"]!r} is none of the validation datasets '
                          f'{names}.')


def check_datasets(opt, path):
    """Build every dataset once (on a copy of the options) so that bad images fail before BasicSR writes anything.

    Our datasets check that files exist, decode their headers and are not smaller than the patch size; a model with
    ``batch_keys`` gets one training sample checked for them (the keys, not the dataset's class, decide). The
    registry is used directly: ``build_dataset`` logs through ``get_root_logger``, and a logger initialised before
    ``train_pipeline`` would leave the run without its log file.
    """
    model_cls = MODEL_REGISTRY.get(opt['model_type']) if opt.get('model_type') in MODEL_REGISTRY else None
    for phase, dataset_opt in (opt.get('datasets') or {}).items():
        dataset_opt = copy.deepcopy(dataset_opt)
        dataset_opt.setdefault('phase', phase.split('_')[0])
        dataset_opt.setdefault('scale', opt.get('scale', 1))
        try:
            dataset = DATASET_REGISTRY.get(dataset_opt['type'])(dataset_opt)
        except (ValueError, FileNotFoundError, KeyError) as e:
            raise OptionError(f'{path}: datasets.{phase}: {e}') from e
        if dataset_opt['phase'] == 'train' and getattr(model_cls, 'batch_keys', ()) and len(dataset):
            try:
                model_cls.check_batch_keys(dataset[0], f'a sample of datasets.{phase} ({dataset_opt["type"]})')
            except ValueError as e:
                raise OptionError(f'{path}: {e}') from e
