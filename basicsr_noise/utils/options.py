"""Reading option files: BasicSR's YAML, with ``_base_`` inheritance resolved by ``mmengine.Config``.

An option file may start with ``_base_: [../_base_/x.yml, ...]`` (paths relative to the file itself). Its values are
merged over those of its bases with mmengine's rules: dicts merge key by key, any other value (lists included)
replaces the base's, and ``_delete_: true`` in a dict replaces the base's dict instead of merging into it. BasicSR
itself never sees ``_base_``: the train and test commands hand it the merged file (:func:`write_merged_options`),
which is also the copy it keeps in the experiment folder.
"""
import os
import tempfile
import yaml
from basicsr.utils.options import ordered_yaml
from os import path as osp

from basicsr_noise.utils.errors import InputError

BASE_KEY = '_base_'
_PACKAGE = osp.dirname(osp.dirname(osp.abspath(__file__)))
# The option files of a source checkout (or an editable install), else the copy setup.py installs into the package.
SHIPPED_OPTIONS = (osp.join(osp.dirname(_PACKAGE), 'options'), osp.join(_PACKAGE, 'options'))
# BasicSR's usual order of the top-level keys; a merged file is written in it (other keys follow manual_seed).
TOP_LEVEL_ORDER = ('name', 'model_type', 'scale', 'num_gpu', 'manual_seed', 'plugins')
TRAILING_ORDER = ('datasets', 'network_g', 'path', 'train', 'val', 'logger', 'dist_params')


class OptionError(InputError):
    """An option file that cannot run; the message names the file and the key."""


def shipped_options(*parts):
    """The path of an option file this package ships, e.g. ``shipped_options('demo', 'r2r_demo.yml')``."""
    for root in SHIPPED_OPTIONS:
        path = osp.join(root, *parts)
        if osp.exists(path):
            return path
    raise FileNotFoundError(f'The shipped option file {"/".join(parts)} is in none of {list(SHIPPED_OPTIONS)}; '
                            'reinstall basicsr-noise.')


def plain(obj):
    """OrderedDicts and ConfigDicts to plain dicts and lists, recursively (for ``yaml.safe_dump`` and
    ``torch.load(weights_only=True)``)."""
    if isinstance(obj, dict):
        return {k: plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [plain(v) for v in obj]
    return obj


def _read_yaml(path):
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


def _check_bases(path, seen=()):
    """Every ``_base_`` file exists and none includes itself; errors name the including file."""
    opt = _read_yaml(path)
    bases = opt.get(BASE_KEY) or []
    for base in [bases] if isinstance(bases, str) else bases:
        base_path = osp.normpath(osp.join(osp.dirname(path), base))
        if not osp.isfile(base_path):
            raise OptionError(f'{path}: _base_ file {base} ({base_path}) does not exist.')
        if base_path in seen:
            raise OptionError(f'{path}: _base_ file {base} includes itself.')
        _check_bases(base_path, seen + (osp.normpath(path), ))
    return opt


def _ordered(opt):
    first = [k for k in TOP_LEVEL_ORDER if k in opt]
    last = [k for k in TRAILING_ORDER if k in opt]
    middle = [k for k in opt if k not in first and k not in last]
    return {k: opt[k] for k in first + middle + last}


def has_bases(path):
    """Whether the option file ``path`` names ``_base_`` files."""
    return BASE_KEY in _read_yaml(path)


def load_options(path):
    """The options of ``path`` as a dict, with its ``_base_`` files merged in; errors name the file."""
    opt = _check_bases(path)
    if BASE_KEY not in opt:
        return plain(opt)
    from mmengine import Config
    try:
        merged = Config.fromfile(path).to_dict()
    except Exception as e:  # noqa: BLE001 (mmengine raises several types for a bad base)
        raise OptionError(f'{path}: cannot merge its _base_ files: {e}') from e
    return _ordered(plain(merged))


def apply_force_yml(opt, entries):
    """Apply ``--force_yml a:b=value`` entries as BasicSR does (existing keys only), with YAML-typed values."""
    for entry in entries or []:
        keys, _, value = entry.partition('=')
        node = opt
        *parents, last = keys.split(':')
        for key in parents:
            if not isinstance(node, dict) or key not in node:
                raise OptionError(f'--force_yml {entry}: the options have no key {key!r} here.')
            node = node[key]
        node[last] = yaml.safe_load(value)
    return opt


def dump_options(opt):
    """YAML text of an option dict that BasicSR's loader reads back to the same values."""
    return yaml.safe_dump(plain(opt), sort_keys=False, default_flow_style=None, width=120)


def write_merged_options(opt, source_path):
    """Write ``opt`` to a new temporary folder under the file name of ``source_path``; returns the new path.

    BasicSR copies the file it is given into the experiment folder under its base name, so the copy there is the
    merged file with the user's file name.
    """
    folder = tempfile.mkdtemp(prefix='basicsr_noise_options_')
    path = osp.join(folder, osp.basename(source_path))
    with open(path, 'w') as f:
        f.write(f'# Merged from {osp.abspath(source_path)} and its _base_ files by basicsr-noise.\n')
        f.write(dump_options(opt))
    return path


def remove_merged_options(path):
    """Remove a file written by :func:`write_merged_options` and its folder."""
    if osp.isfile(path):
        os.remove(path)
    folder = osp.dirname(path)
    if osp.isdir(folder) and not os.listdir(folder):
        os.rmdir(folder)
