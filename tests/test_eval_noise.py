import cv2
import json
import numpy as np
import pytest
from conftest import run_cli, smooth_image, write_png

from basicsr_noise.evaluation.eval_noise import evaluate_noise, match_folders
from basicsr_noise.metrics.noise_metrics import calculate_akld, calculate_ks


def _awgn(img, sigma, rng):
    return np.clip(np.round(img + rng.normal(0, sigma, img.shape)), 0, 255).astype(np.uint8)


@pytest.fixture
def triples(tmp_path):
    rng = np.random.default_rng(0)
    for i, (h, w) in enumerate(((64, 80), (96, 64))):
        clean = (smooth_image(rng, h, w) * 0.6 + 50).astype(np.uint8)
        write_png(str(tmp_path / 'clean' / f'img{i}.png'), clean)
        write_png(str(tmp_path / 'real' / f'img{i}.png'), _awgn(clean, 20, rng))
        write_png(str(tmp_path / 'fake' / f'img{i}.png'), _awgn(clean, 10, rng))
    return tmp_path


def test_eval_noise_cli_table_scores_and_figures(triples):
    out = triples / 'out'
    result = run_cli(['eval-noise', '--clean', 'clean', '--real', 'real', '--fake', 'fake', '--output', str(out)],
                     cwd=triples)
    assert result.returncode == 0, result.stderr[-2000:]
    report = json.loads((out / 'eval_noise.json').read_text())
    for stem in ('img0', 'img1'):
        clean, real, fake = (cv2.imread(str(triples / d / f'{stem}.png')) for d in ('clean', 'real', 'fake'))
        row = report['images'][stem]
        assert row['akld'] == pytest.approx(calculate_akld(fake, real, clean))
        assert row['ks'] == pytest.approx(calculate_ks(fake, real, clean))
        assert row['real_std'] == pytest.approx(20, rel=0.1) and row['fake_std'] == pytest.approx(10, rel=0.1)
        figure = cv2.imread(str(out / 'figures' / f'{stem}.png'))
        assert figure.shape[0] == 2 * clean.shape[0] + 4 and figure.shape[1] == 4 * clean.shape[1] + 12
    assert report['mean']['akld'] == pytest.approx(np.mean([report['images'][s]['akld'] for s in ('img0', 'img1')]))
    table = result.stdout
    assert 'img0' in table and 'mean' in table and f'{report["mean"]["akld"]:.4f}' in table


def test_eval_noise_names_unmatched_and_mismatched_images(triples):
    write_png(str(triples / 'fake' / 'extra.png'), np.zeros((8, 8, 3), np.uint8))
    with pytest.raises(ValueError, match='extra'):
        match_folders(str(triples / 'clean'), str(triples / 'real'), str(triples / 'fake'))
    (triples / 'fake' / 'extra.png').unlink()
    write_png(str(triples / 'fake' / 'img0.png'), np.zeros((8, 8, 3), np.uint8))
    with pytest.raises(ValueError, match='img0.png is'):
        evaluate_noise(str(triples / 'clean'), str(triples / 'real'), str(triples / 'fake'))
    result = run_cli(['eval-noise', '--clean', 'nowhere', '--real', 'real', '--fake', 'fake'], cwd=triples)
    assert result.returncode == 2 and 'clean folder nowhere does not exist' in result.stderr
