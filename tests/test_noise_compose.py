import cv2
import numpy as np
import pytest
import torch
from basicsr.metrics import calculate_psnr
from skimage import data as skdata

from basicsr_noise.noise import build_noise


def test_compose_adds_the_variances_of_independent_stages():
    x = torch.full((2, 3, 256, 256), 0.5, dtype=torch.float64)
    model = build_noise({'type': 'ComposeNoise', 'models': [{'type': 'AWGNNoise', 'sigma': 10},
                                                            {'type': 'AWGNNoise', 'sigma': 20}]})
    result = model(x, torch.Generator().manual_seed(0))
    expected = (10**2 + 20**2)**0.5 / 255.
    torch.testing.assert_close(result.std.expand_as(x), torch.full_like(x, expected))
    assert (result.noisy - x).std().item() == pytest.approx(expected, rel=0.02)
    assert set(result.params) == {'0.sigma', '1.sigma'}


def test_random_choice_draws_per_sample_and_reports_the_chosen_std():
    x = torch.full((64, 1, 32, 32), 0.5, dtype=torch.float64)
    model = build_noise({'type': 'RandomChoiceNoise', 'models': [{'type': 'AWGNNoise', 'sigma': 5},
                                                                 {'type': 'AWGNNoise', 'sigma': 50}]})
    result = model(x, torch.Generator().manual_seed(0))
    choice = result.params['choice']
    assert 10 < choice.sum() < 54
    sample_std = (result.noisy - x).flatten(1).std(1)
    assert (sample_std[choice == 1] > 30 / 255.).all() and (sample_std[choice == 0] < 10 / 255.).all()
    torch.testing.assert_close(result.std[:, 0, 0, 0], torch.where(choice == 1, 50 / 255., 5 / 255.).double())
    only_first = build_noise({'type': 'RandomChoiceNoise', 'probs': [1, 0],
                              'models': [{'type': 'AWGNNoise', 'sigma': 5}, {'type': 'PoissonNoise'}]})
    assert only_first(x, torch.Generator().manual_seed(1)).params['choice'].sum() == 0
    with pytest.raises(ValueError, match='probs'):
        build_noise({'type': 'RandomChoiceNoise', 'probs': [1], 'models': [{'type': 'AWGNNoise'}] * 2})


def test_jpeg_on_the_device_behaves_like_opencv_jpeg():
    img = skdata.astronaut()[:128, :128].astype(np.float32) / 255.
    x = torch.from_numpy(img).permute(2, 0, 1)[None].repeat(2, 1, 1, 1)
    psnr = {}
    for q in (30, 90):
        out = build_noise({'type': 'JPEGNoise', 'quality': q})(x).noisy[0].permute(1, 2, 0).numpy()
        _, enc = cv2.imencode('.jpg', np.round(img[..., ::-1] * 255).astype(np.uint8), [cv2.IMWRITE_JPEG_QUALITY, q])
        ref = cv2.imdecode(enc, cv2.IMREAD_COLOR)[..., ::-1] / 255.
        psnr[q] = calculate_psnr(out * 255, img * 255, 0)
        # DiffJPEG is close to, not identical with, libjpeg (within 0.5 dB on this image)
        assert psnr[q] == pytest.approx(calculate_psnr(ref * 255, img * 255, 0), abs=1.0)
    assert psnr[90] > psnr[30] + 3
    # the OpenCV backend is libjpeg itself: the same bytes as a saved JPEG file
    out = build_noise({'type': 'JPEGNoise', 'quality': 30, 'backend': 'opencv'})(x).noisy[0].permute(1, 2, 0).numpy()
    _, enc = cv2.imencode('.jpg', np.round(img[..., ::-1] * 255).astype(np.uint8), [cv2.IMWRITE_JPEG_QUALITY, 30])
    np.testing.assert_allclose(out, cv2.imdecode(enc, cv2.IMREAD_COLOR)[..., ::-1] / 255., atol=1e-6)
    with pytest.raises(ValueError, match=r'\[1, 100\]'):
        build_noise({'type': 'JPEGNoise', 'quality': [0, 90]})
