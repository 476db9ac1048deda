import pytest
import torch

from basicsr_noise.noise.camera import simulate_camera
from basicsr_noise.noise.isp import HIGHLIGHT_KNEE, inverse_tone, power_, process, random_isp_params, tone, unprocess


def test_unprocess_then_process_returns_the_input_below_the_highlight_knee():
    g = torch.Generator().manual_seed(0)
    rgb = torch.rand(4, 3, 32, 32, generator=g, dtype=torch.float64) * 0.8
    params = random_isp_params(4, g)
    linear = unprocess(rgb, params)
    back = process(linear, params)
    # where nothing clipped and the highlight protection was off, the round trip is exact up to float64 rounding
    grey = (inverse_tone(rgb).clamp_min(1e-8)**2.2).mean(1, keepdim=True)
    ok = ((linear > 0) & (linear < 1)).all(1, keepdim=True) & (grey < HIGHLIGHT_KNEE)
    assert ok.float().mean() > 0.9
    err = (back - rgb).abs()[ok.expand_as(rgb)]
    assert err.max() < 1e-6


def test_camera_parameters_follow_brooks_ranges():
    params = random_isp_params(1000, torch.Generator().manual_seed(0))
    assert 1.9 <= params['red_gain'].min() and params['red_gain'].max() <= 2.4
    assert 1.5 <= params['blue_gain'].min() and params['blue_gain'].max() <= 1.9
    torch.testing.assert_close(params['rgb2cam'].sum(-1), torch.ones(1000, 3, dtype=torch.float64))
    assert (1 / params['rgb_gain']).mean().item() == pytest.approx(0.8, abs=0.01)


def test_tone_curves_are_inverse():
    y = torch.linspace(0, 1, 101, dtype=torch.float64)
    torch.testing.assert_close(tone(inverse_tone(y)), y)


@pytest.mark.parametrize('exponent', [2.2, 1 / 2.2])
def test_gamma_as_exp_log_stays_within_its_stated_float32_error(exponent):
    x = torch.cat([torch.logspace(-8, 0, 100001), torch.rand(100000, generator=torch.Generator().manual_seed(0))])
    x = x.float()
    exact = x.double()**exponent
    got = power_(x.clone(), exponent).double()
    assert (got - exact).abs().max() < 7.5e-8
    assert ((got - exact) / exact).abs().max() < 5e-6


def test_unprocess_darkens_and_tints_like_raw():
    rgb = torch.full((1, 3, 4, 4), 0.5, dtype=torch.float64)
    params = random_isp_params(1, torch.Generator().manual_seed(0))
    linear = unprocess(rgb, params)
    assert linear.mean() < 0.3  # gamma and the digital gain darken the linear raw
    assert linear[0, 1].mean() > linear[0, 0].mean() and linear[0, 1].mean() > linear[0, 2].mean()  # green-heavy


def test_pipeline_is_differentiable_despite_its_in_place_steps():
    # unprocess/process/simulate_camera run in place on their own temporaries; autograd must still be exact
    # (fast_mode: the Jacobian checked along random directions, which a wrong in-place gradient fails as well)
    g = torch.Generator().manual_seed(0)
    rgb = (torch.rand(2, 3, 6, 6, generator=g, dtype=torch.float64) * 0.8 + 0.1).requires_grad_()
    params = random_isp_params(2, g)
    assert torch.autograd.gradcheck(lambda x: unprocess(x, params), (rgb, ), fast_mode=True)
    assert torch.autograd.gradcheck(lambda x: process(x, params), (rgb * 0.5, ), fast_mode=True)
    shot, read = torch.full((2, ), 1e-3, dtype=torch.float64), torch.full((2, ), 1e-5, dtype=torch.float64)
    eps = torch.randn(2, 1, 6, 6, generator=g, dtype=torch.float64)
    for method in ('bilinear', 'malvar2004', 'menon2007'):
        assert torch.autograd.gradcheck(
            lambda x: simulate_camera(x, params, shot, read, eps, 'GRBG', method), (rgb, ), fast_mode=True)
