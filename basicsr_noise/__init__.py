"""basicsr-noise: learning from noisy images as a BasicSR plugin.

Importing this package installs the one import shim basicsr 1.4.2 needs to import at all on current torchvision
(``torchvision.transforms.functional_tensor``), then imports the subpackages so that every arch, dataset, loss,
metric and model registers itself in BasicSR's registries. It changes nothing else in BasicSR: the runtime fixes
(CPU resume, exact-resume sampler, gloo DDP, JPEG quality) are applied by the ``basicsr-noise`` command, and by
:func:`basicsr_noise.compat.apply` for code that drives BasicSR's own scripts.
"""
# isort: off
from .compat import install_import_shims

install_import_shims()

from . import archs, data, losses, metrics, models  # noqa: E402,F401
from .version import __version__  # noqa: E402,F401
# isort: on
