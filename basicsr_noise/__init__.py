"""basicsr-noise: learning from noisy images as a BasicSR plugin.

Importing this package first installs the compatibility shims (basicsr 1.4.2 does not import on current
torchvision otherwise), applies the runtime fixes, then imports the subpackages so that every arch, dataset,
loss, metric and model registers itself in BasicSR's registries.
"""
# isort: off
from .compat import apply_runtime_patches, install_import_shims

install_import_shims()
apply_runtime_patches()

from . import archs, data, losses, metrics, models  # noqa: E402,F401
from .version import __version__  # noqa: E402,F401
# isort: on
