"""Loading BasicSR plugins: this package, the entry-point group ``basicsr.plugins``, and modules named by the user.

A named plugin (``--plugin MODULE`` or the top-level option ``plugins: [MODULE, ...]``) is imported; when it is a
package, its ``archs``, ``data``, ``models``, ``losses`` and ``metrics`` subpackages are imported where they exist,
and their ``*_arch.py``, ``*_dataset.py``, ``*_model.py`` and ``*_loss.py`` files too, as BasicSR scans its own
folders. So any BasicSR-based project (Real-ESRGAN, GFPGAN, HAT, your own) registers its classes, whether or not it
declares the entry point. The current directory is searched as ``python -m`` would.
"""
import importlib
import importlib.util
import os
import sys
from importlib import metadata

from basicsr_noise.utils.errors import InputError

PLUGIN_GROUP = 'basicsr.plugins'
SCANNED_SUBPACKAGES = {
    'archs': '_arch.py',
    'data': '_dataset.py',
    'models': '_model.py',
    'losses': '_loss.py',
    'metrics': None
}


def load_entry_point_plugins():
    """Import this package (compat shims first) and every plugin registered under ``basicsr.plugins``."""
    import basicsr_noise  # noqa: F401  (shims before any other plugin imports basicsr)
    loaded = []
    for entry_point in metadata.entry_points(group=PLUGIN_GROUP):
        try:
            entry_point.load()
        except Exception as e:  # noqa: BLE001 (a broken third-party plugin must not hide which one it is)
            raise RuntimeError(f'Cannot import the BasicSR plugin {entry_point.name!r} ({entry_point.value}): {e}') \
                from e
        loaded.append(entry_point.value)
    return loaded


def _import(name, where):
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as e:
        if e.name is not None and (name == e.name or name.startswith(e.name + '.')):
            raise InputError(f'{where}: no module named {name!r} (is it installed, or in the current directory?)') \
                from e
        raise InputError(f'{where}: importing {name!r} failed: {e}') from e


def _scan(package_name, suffix):
    package = sys.modules[package_name]
    for folder in getattr(package, '__path__', []):
        for file in sorted(os.listdir(folder)):
            if file.endswith(suffix):
                importlib.import_module(f'{package_name}.{file[:-3]}')


def import_plugin(name, where='--plugin'):
    """Import the module ``name`` and, for a package, its registering subpackages; returns the module."""
    import basicsr_noise  # noqa: F401  (the shims must come before the plugin imports basicsr)
    if os.getcwd() not in sys.path:
        sys.path.append(os.getcwd())
    module = _import(name, where)
    if hasattr(module, '__path__'):
        for sub, suffix in SCANNED_SUBPACKAGES.items():
            full = f'{name}.{sub}'
            if importlib.util.find_spec(full) is None:
                continue
            _import(full, where)
            if suffix:
                _scan(full, suffix)
    return module


def import_plugins(names, where='--plugin'):
    """Import every module of ``names`` (a list, or None) with :func:`import_plugin`."""
    if names is None:
        return []
    if isinstance(names, str) or not all(isinstance(n, str) for n in names):
        raise InputError(f'{where} must be a list of module names, got {names!r}.')
    return [import_plugin(name, where) for name in names]
