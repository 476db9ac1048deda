"""The GPU verification script (benchmarks/gpu/) runs end to end on the CPU at tiny sizes, so that it cannot rot
between the sessions that are lent a GPU."""
import json
import subprocess
import sys
from conftest import REPO
from os import path as osp

GPU = osp.join(REPO, 'benchmarks', 'gpu')


def test_the_gpu_benchmarks_dry_run_on_cpu(tmp_path):
    result = subprocess.run(
        [sys.executable,
         osp.join(GPU, 'gpu_checks.py'), '--device', 'cpu', '--tiny', '--out',
         str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=REPO)
    assert result.returncode == 0, result.stderr[-3000:]
    results = json.load(open(tmp_path / 'gpu_benchmarks.json'))
    assert results['device'] == 'cpu' and results['tiny']
    assert {'batch2_32'} == set(results['camera_noise'])
    assert results['camera_noise']['batch2_32']['eager_mpix_per_s'] > 0
    expected = {f'{m}_{p}' for m in ('r2r', 'dbsn', 'ntgan', 'pngan') for p in ('fp32', 'amp')}
    assert set(results['train_steps']) == expected
    assert all(v['model_step_s'] > 0 and v['ratio'] > 0 for v in results['train_steps'].values())
    assert results['generator_noise']['on_the_fly_step_s'] > 0
    assert results['tiled_inference']['mpix_per_s'] > 0


def test_the_device_command_is_valid_shell_and_installs_the_carried_wheels():
    script = osp.join(GPU, 'run.sh')
    assert subprocess.run(['bash', '-n', script]).returncode == 0
    text = open(script).read()
    assert '.whl/*.whl' in text and 'gpu_checks.py --device cuda' in text
    makefile = open(osp.join(REPO, 'Makefile')).read()
    for wheel in ('basicsr', 'lmdb', 'mmengine', 'addict', 'termcolor', 'yapf'):
        assert wheel in makefile.split('gpu-wheels:')[1].split('\n\n')[0]


def convergence(tmp_path, *extra, timeout=600):
    cmd = [sys.executable, osp.join(GPU, 'convergence.py'), '--device', 'cpu', '--tiny', '--out', str(tmp_path)]
    result = subprocess.run(cmd + list(extra), capture_output=True, text=True, timeout=timeout, cwd=REPO)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
    return result


def test_the_convergence_benchmark_dry_runs_on_cpu(tmp_path):
    """Every arm of benchmarks/gpu/convergence.py (4 iterations, CPU widths): the budget-curve points are scored
    and the generators it trains feed the mixing arm."""
    convergence(tmp_path)
    results = json.load(open(tmp_path / 'convergence.json'))
    assert results['setting']['tiny'] and not results['skipped']
    points = ['1', '2', '4']  # 1/4, 1/2 and all of the 4 iterations (JSON keys)
    assert sorted(results['ntgan']['psnr']['ntgan']) == points and sorted(results['ntgan']['psnr']['n2c']) == points
    assert all(v['akld'] > 0 and v['fake_std'] > 0 for v in results['pngan']['curve'].values())
    assert sorted(results['noisetransfer']['curve']) == points
    assert 'pgap' in results['pngan']['pgap']
    assert {'b_pngan', 'b_noisetransfer'} == set(results['mixing']['gain_over_real_only'])
    assert all(s > 0 for s in results['seconds'].values())


def test_the_convergence_benchmark_skips_the_arms_past_its_budget(tmp_path, monkeypatch, capsys):
    monkeypatch.syspath_prepend(GPU)
    import convergence
    monkeypatch.setattr(sys, 'argv', [
        'convergence.py', '--device', 'cpu', '--tiny', '--out',
        str(tmp_path), '--minutes', '0', '--arms', 'ntgan', 'mixing'
    ])
    convergence.main()
    out = capsys.readouterr().out
    assert json.loads(out[out.index('{'):])['skipped'] == ['ntgan', 'mixing']
    assert not (tmp_path / 'work' / 'camsim').exists()  # nothing prepared for no arm
