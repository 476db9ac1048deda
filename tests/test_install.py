"""A non-editable ``pip install .`` ships what the commands read: the option files (package data)."""
import re
import subprocess
import sys
from conftest import REPO, run_cli
from os import path as osp


def test_demo_runs_from_a_non_editable_install(tmp_path):
    site = tmp_path / 'site'
    pip = [sys.executable, '-m', 'pip', 'install', '--no-deps', '--no-build-isolation', '--no-index', '--quiet']
    install = subprocess.run(pip + ['--target', str(site), REPO], capture_output=True, text=True, timeout=600)
    assert install.returncode == 0, install.stdout[-2000:] + install.stderr[-2000:]
    assert osp.isfile(site / 'basicsr_noise' / 'options' / 'demo' / 'r2r_demo.yml')
    assert osp.isfile(site / 'basicsr_noise' / 'options' / '_base_' / 'runtime.yml')
    run = tmp_path / 'elsewhere'  # not the source tree: only the installed copy can provide the options
    run.mkdir()
    env = {'PYTHONPATH': str(site)}
    where = run_cli(['-c', 'import basicsr_noise; print(basicsr_noise.__file__)'],
                    cwd=run,
                    env=env,
                    prefix=[sys.executable])
    assert where.stdout.strip() == str(site / 'basicsr_noise' / '__init__.py'), where.stderr[-2000:]
    result = run_cli(['demo', '--method', 'r2r', '--iters', '2', '--root', str(run)], cwd=run, env=env, timeout=600)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    used = re.findall(r'^\$ basicsr \w+ -opt (\S+)', result.stdout, re.M)
    assert used and all(p.startswith(str(site)) for p in used), used
    assert re.search(r'^mean\s+\d+\.\d+\s+\d+\.\d+$', result.stdout, re.M)
    assert not osp.exists(osp.join(REPO, 'basicsr_noise', 'options')), 'the build must not write into the source tree'
