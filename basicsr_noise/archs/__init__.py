import importlib
from basicsr.utils import scandir
from os import path as osp

# Import every *_arch.py so that its classes register themselves (the BasicSR / Real-ESRGAN pattern).
_folder = osp.dirname(osp.abspath(__file__))
_filenames = sorted(osp.splitext(osp.basename(v))[0] for v in scandir(_folder) if v.endswith('_arch.py'))
_modules = [importlib.import_module(f'basicsr_noise.archs.{name}') for name in _filenames]
