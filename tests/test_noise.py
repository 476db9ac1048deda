import pytest
import torch

from basicsr_noise.noise import draw_gaussian_noise, fit_nlf, noise_std_map


def test_fit_nlf_recovers_a_known_noise_level_function():
    g = torch.Generator().manual_seed(0)
    clean = torch.rand(4, 3, 128, 128, generator=g)
    a, b = torch.tensor([0.02, 0.01, 0.005]), torch.tensor([1e-4, 4e-4, 2e-3])
    std = noise_std_map(clean, nlf=(a, b))
    noisy = clean + draw_gaussian_noise(std, clean.shape, g)
    fit_a, fit_b = fit_nlf(noisy, clean)
    torch.testing.assert_close(fit_a, a, rtol=0.05, atol=5e-4)
    torch.testing.assert_close(fit_b, b, rtol=0.1, atol=2e-4)  # b is small next to a * x


def test_fit_nlf_needs_matching_shapes_and_enough_pixels():
    with pytest.raises(ValueError, match='noisy and clean'):
        fit_nlf(torch.zeros(1, 3, 8, 8), torch.zeros(1, 3, 8, 9))
    with pytest.raises(ValueError, match='fewer than two'):
        fit_nlf(torch.full((1, 1, 8, 8), 0.5), torch.full((1, 1, 8, 8), 0.5))


def test_fit_nlf_command_pools_image_pairs(tmp_path):
    import cv2
    import numpy as np
    import re
    from conftest import run_cli, write_png
    rng = np.random.default_rng(0)
    for i, size in enumerate([(96, 128), (80, 80)]):  # pairs of different sizes are pooled
        clean = rng.uniform(0, 1, (*size, 3))
        noisy = clean + rng.normal(0, 1, clean.shape) * np.sqrt(0.01 * clean + 0.001)
        write_png(str(tmp_path / 'clean' / f'{i}.png'), np.round(clean * 255).astype(np.uint8))
        write_png(str(tmp_path / 'noisy' / f'{i}.png'), np.clip(np.round(noisy * 255), 0, 255).astype(np.uint8))
    result = run_cli(['fit-nlf', '--noisy', str(tmp_path / 'noisy'), '--clean', str(tmp_path / 'clean'),
                      '--min_count', '50'], cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    a = [float(v) for v in re.search(r'a: \[(.*)\]', result.stdout).group(1).split(',')]
    assert a == pytest.approx([0.01] * 3, rel=0.15)
    assert cv2.imread(str(tmp_path / 'clean' / '0.png')).shape == (96, 128, 3)
