"""Every arch and loss file can be copied into BasicSR unchanged: it imports only the standard library, torch,
torchvision, numpy and basicsr (never basicsr_noise, and no relative import, which would reach into this package)."""
import ast
import glob
import pytest
import sys
from conftest import REPO
from os import path as osp

ALLOWED = {'torch', 'torchvision', 'numpy', 'basicsr'}  # torchvision: a BasicSR dependency (its VGG)
FILES = sorted(
    glob.glob(osp.join(REPO, 'basicsr_noise', 'archs', '*_arch.py')) +
    glob.glob(osp.join(REPO, 'basicsr_noise', 'losses', '*_loss.py')))


def imported_modules(path):
    """``(line, module)`` of every import of a file; relative imports as ``.module``."""
    tree = ast.parse(open(path).read(), path)
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from ((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            yield node.lineno, '.' * node.level + (node.module or '')


def test_the_files_are_found():
    names = {osp.basename(f) for f in FILES}
    assert {'dbsn_arch.py', 'dncnn_arch.py', 'mwcnn_arch.py', 'dbsn_loss.py', 'ntgan_arch.py', 'pngan_arch.py',
            'pngan_loss.py'} <= names


@pytest.mark.parametrize('path', FILES, ids=osp.basename)
def test_imports_only_the_standard_library_torch_numpy_and_basicsr(path):
    bad = [
        f'line {line}: {module}' for line, module in imported_modules(path)
        if module.startswith('.') or module.split('.')[0] not in ALLOWED | sys.stdlib_module_names
    ]
    assert not bad, f'{osp.relpath(path, REPO)} imports {bad}'


def test_the_check_catches_a_package_import(tmp_path):
    bad = tmp_path / 'x_arch.py'
    bad.write_text('import torch\nfrom basicsr_noise.utils.tiling import tiled_forward\nfrom .y import z\n')
    assert [m for _, m in imported_modules(bad)] == ['torch', 'basicsr_noise.utils.tiling', '.y']
    with pytest.raises(AssertionError, match='basicsr_noise.utils.tiling'):
        test_imports_only_the_standard_library_torch_numpy_and_basicsr(str(bad))
