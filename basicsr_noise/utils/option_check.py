"""Checks of an option file before BasicSR starts: a bad key or path fails with its name, before anything is written."""
import copy
import difflib
import os
import torch
import yaml
from basicsr.utils.options import ordered_yaml
from basicsr.utils.registry import ARCH_REGISTRY, DATASET_REGISTRY, LOSS_REGISTRY, METRIC_REGISTRY, MODEL_REGISTRY
from os import path as osp


class OptionError(ValueError):
    """An option file that cannot run; the message names the file and the key."""


def load_options(path):
    """Read a BasicSR option file (ordered YAML) with errors that name the file."""
    if not osp.isfile(path):
        raise OptionError(f'Option file {path} does not exist.')
    with open(path) as f:
        try:
            opt = yaml.load(f, Loader=ordered_yaml()[0])
        except yaml.YAMLError as e:
            raise OptionError(f'Option file {path} is not valid YAML: {e}') from e
    if not isinstance(opt, dict):
        raise OptionError(f'Option file {path} does not hold a mapping of options.')
    return opt


def apply_force_yml(opt, entries):
    """Apply ``--force_yml a:b=value`` entries as BasicSR does (existing keys only), with YAML-typed values."""
    for entry in entries or []:
        keys, _, value = entry.partition('=')
        node = opt
        *parents, last = keys.split(':')
        for key in parents:
            node = node[key]
        node[last] = yaml.safe_load(value)
    return opt


def _registered(registry, name):
    return name in registry or f'{name}_basicsr' in registry


def _check_type(registry, what, where, name, path):
    if name is None:
        raise OptionError(f'{path}: {where} has no type.')
    if not _registered(registry, name):
        hint = difflib.get_close_matches(name, [k for k in registry.keys()], n=1)
        hint = f' Did you mean {hint[0]!r}?' if hint else ''
        raise OptionError(f'{path}: unknown {what} {where} = {name!r}.{hint} Is the plugin that provides it '
                          'installed (entry point group basicsr.plugins)?')


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

    for key, value in (opt.get('path') or {}).items():
        if key.startswith('pretrain_network_') and value is not None and not osp.isfile(value):
            raise OptionError(f'{path}: path.{key} = {value} does not exist.')

    model_cls = MODEL_REGISTRY.get(opt['model_type']) if opt['model_type'] in MODEL_REGISTRY else None
    if model_cls is not None and hasattr(model_cls, 'check_options'):
        try:
            model_cls.check_options(opt)
        except ValueError as e:
            raise OptionError(f'{path}: {e}') from e


def check_datasets(opt, path):
    """Build every dataset once (on a copy of the options) so that bad images fail before BasicSR writes anything.

    Our datasets check that files exist, decode their headers and are not smaller than the patch size. The
    registry is used directly: ``build_dataset`` logs through ``get_root_logger``, and a logger initialised before
    ``train_pipeline`` would leave the run without its log file.
    """
    for phase, dataset_opt in (opt.get('datasets') or {}).items():
        dataset_opt = copy.deepcopy(dataset_opt)
        dataset_opt.setdefault('phase', phase.split('_')[0])
        dataset_opt.setdefault('scale', opt.get('scale', 1))
        try:
            DATASET_REGISTRY.get(dataset_opt['type'])(dataset_opt)
        except (ValueError, FileNotFoundError, KeyError) as e:
            raise OptionError(f'{path}: datasets.{phase}: {e}') from e
