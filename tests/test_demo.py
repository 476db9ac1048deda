"""``basicsr-noise demo`` (what ``make demo`` runs) end to end, with a two-iteration budget."""
import os
import pytest
import re
from conftest import run_cli


def test_demo_runs_every_method_and_reports_psnr(tmp_path):
    result = run_cli(['demo', '--root', str(tmp_path), '--iters', '2'], cwd=tmp_path, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    out = result.stdout
    assert 'R2R demo' in out and 'DBSN demo' in out and 'NTGAN demo' in out
    r2r_mean, dbsn_mean, ntgan_mean = re.findall(r'^mean\s+(.+)$', out, re.M)
    noisy_r2r, _ = map(float, r2r_mean.split())
    noisy_dbsn, fused, mu = map(float, dbsn_mean.split())
    assert noisy_r2r == noisy_dbsn and 19 < noisy_r2r < 22  # the same sigma-25 validation pairs
    assert fused != mu  # the fused estimate and the raw D-BSN output are both scored
    noisy_ntgan, denoised_ntgan = map(float, ntgan_mean.split())
    assert noisy_ntgan != noisy_r2r and 15 < noisy_ntgan < 30  # its own in-camera noise, not the AWGN pairs
    assert (tmp_path / 'results' / 'NTGAN_demo_test' / 'visualization' / 'demo_val' / 'chelsea_NTGAN_demo.png').exists()
    results = tmp_path / 'results' / 'DBSN_demo_test' / 'visualization' / 'demo_val'
    assert (results / 'chelsea_DBSN_demo.png').exists() and (results / 'chelsea_DBSN_demo_mu.png').exists()
    for stage in ('DBSN_demo_mu', 'DBSN_demo', 'NTGAN_demo'):  # the staged recipe: two training runs
        assert (tmp_path / 'experiments' / stage / 'models' / 'net_g_latest.pth').exists()


def test_pngan_demo_chains_the_ntgan_network_as_its_denoiser(tmp_path):
    """``demo --method pngan``: the NTGAN demo runs first (its network is D_d), then PNGAN, scored by AKLD/KS."""
    result = run_cli(['demo', '--root', str(tmp_path), '--method', 'pngan', '--iters', '2'], cwd=tmp_path,
                     timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    out = result.stdout
    assert 'NTGAN demo' in out and 'PNGAN demo' in out
    (line, ) = [line for line in out.splitlines() if line.startswith('mean ') and '/' in line]
    (no_noise_akld, no_noise_ks), (awgn_akld, _), (fake_akld, _) = [
        map(float, pair) for pair in re.findall(r'([\d.]+) / ([\d.]+)', line)]
    assert no_noise_akld == pytest.approx(0.7013, abs=1e-3) and no_noise_ks > 0.3  # the metric's no-noise value
    assert awgn_akld > 1 and fake_akld > 0
    generated = tmp_path / 'results' / 'PNGAN_demo' / 'generated'
    assert (generated / 'chelsea.png').exists() and (generated / 'motorcycle.png').exists()
    assert (tmp_path / 'experiments' / 'PNGAN_demo' / 'models' / 'net_g_latest.pth').exists()


def test_noisetransfer_demo_trains_and_scores_the_paired_transfer(tmp_path):
    """``demo --method noisetransfer``: trains on the NTGAN demo pairs and synthetic families, generates each
    validation image from its own noisy version and scores it (AKLD/KS)."""
    result = run_cli(['demo', '--root', str(tmp_path), '--method', 'noisetransfer', '--iters', '2'], cwd=tmp_path,
                     timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    (line, ) = [line for line in result.stdout.splitlines() if line.startswith('mean ') and '/' in line]
    (no_noise_akld, _), (fake_akld, fake_ks) = [map(float, p) for p in re.findall(r'([\d.]+) / ([\d.]+)', line)]
    assert no_noise_akld == pytest.approx(0.7013, abs=1e-3) and fake_akld > 0 and 0 < fake_ks < 1
    classes = open(tmp_path / 'datasets' / 'demo' / 'ntgan' / 'train_classes.txt').read().split()
    assert classes[1::2] == ['demo'] * (len(classes) // 2)  # one noise class for the simulator's images
    generated = tmp_path / 'results' / 'NoiseTransfer_demo' / 'generated'
    assert sorted(os.listdir(generated)) == ['chelsea.png', 'motorcycle.png']
