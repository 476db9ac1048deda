import pytest
import torch
from conftest import SHARED_DATA
from os import path as osp

from basicsr_noise.noise import CRFCameraNoise, DoRFCurves, GammaCurves

DORF = osp.join(SHARED_DATA, 'dorf')
needs_dorf = pytest.mark.skipif(not osp.isdir(DORF), reason='../shared/data/dorf (DoRF curves) is not present')


@needs_dorf
def test_dorf_curves_invert_each_other():
    curves = DoRFCurves(DORF)
    assert curves.num_curves == 201
    x = torch.linspace(0, 1, 1001, dtype=torch.float64).reshape(1, 1, 1, -1).expand(201, 1, 1, 1001)
    index = torch.arange(201)
    err = (curves.forward(curves.inverse(x, index), index) - x).abs().flatten()
    # nearest-bin lookups on 1024-point grids, as NTGAN: small almost everywhere, coarse where a curve is steep
    assert err.median() < 1e-3 and err.quantile(0.99) < 1e-2
    irradiance = curves.inverse(x, index)
    assert (irradiance[..., 1:] >= irradiance[..., :-1]).all()  # monotone
    assert (irradiance[..., 500] < 0.5).float().mean() > 0.9  # concave CRFs: mid-grey is dark irradiance


def test_missing_dorf_file_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match='201_CRF_data.mat'):
        DoRFCurves(str(tmp_path))
    with pytest.raises(ValueError, match='dorf_dir'):
        CRFCameraNoise(crf='dorf')


def test_gamma_curves_invert_exactly():
    x = torch.rand(3, 3, 8, 8, dtype=torch.float64)
    e = torch.tensor([0.3, 0.45, 0.6], dtype=torch.float64)
    torch.testing.assert_close(GammaCurves.forward(GammaCurves.inverse(x, e), e), x)


def test_irradiance_noise_has_the_model_variance():
    # identity CRF and no mosaicing: the added noise is exactly sigma_s * L * n1 + sigma_c * n2
    # (kept below 0.65 so that the CRF's clamp at 1 stays out of the way)
    x = torch.linspace(0.1, 0.65, 512, dtype=torch.float64).reshape(1, 1, 1, 512).expand(4, 3, 512, 512).contiguous()
    model = CRFCameraNoise(sigma_s=0.1, sigma_c=0.02, crf_exponent=1.0, patterns=['none'])
    result = model(x, torch.Generator().manual_seed(0))
    expected = result.params['irradiance_std']**2
    torch.testing.assert_close(expected, (0.1 * x)**2 + 0.02**2)
    residual = result.noisy - x
    for cols in (slice(0, 64), slice(448, 512)):
        assert residual[..., cols].var().item() == pytest.approx(expected[..., cols].mean().item(), rel=0.02)


@pytest.mark.parametrize('crf', ['gamma', 'dorf'])
def test_noise_free_residual_mode_returns_the_input(crf):
    if crf == 'dorf' and not osp.isdir(DORF):
        pytest.skip('../shared/data/dorf is not present')
    model = CRFCameraNoise(sigma_s=0, sigma_c=0, crf=crf, dorf_dir=DORF if crf == 'dorf' else None)
    x = torch.rand(6, 3, 16, 16, dtype=torch.float64)
    torch.testing.assert_close(model(x, torch.Generator().manual_seed(0)).noisy, x, rtol=0, atol=1e-12)


@needs_dorf
def test_crf_noise_is_brighter_in_relative_terms_in_the_dark_and_spatially_correlated():
    model = CRFCameraNoise(sigma_s=0.0, sigma_c=0.02, crf='dorf', dorf_dir=DORF, patterns=['RGGB'])
    x = torch.cat([torch.full((8, 3, 32, 32), 0.1), torch.full((8, 3, 32, 32), 0.8)]).double()
    n = model(x, torch.Generator().manual_seed(0)).noisy - x
    dark, bright = n[:8, :, 2:-2, 2:-2].std(), n[8:, :, 2:-2, 2:-2].std()
    assert dark > bright  # a concave CRF amplifies irradiance noise in the shadows
    inner = n[..., 2:-2, 2:-2]
    corr = torch.corrcoef(torch.stack([inner[..., :-1].flatten(), inner[..., 1:].flatten()]))[0, 1]
    assert corr > 0.1


def test_bad_crf_options_are_named():
    with pytest.raises(ValueError, match='RGBG'):
        CRFCameraNoise(patterns=['RGBG'])
    with pytest.raises(ValueError, match='crf must be gamma or dorf'):
        CRFCameraNoise(crf='emor')
    with pytest.raises(ValueError, match='CRFCameraNoise expects 3-channel images'):
        CRFCameraNoise()(torch.rand(1, 1, 8, 8))


@needs_dorf
def test_the_release_sampling_per_sample_and_channel():
    """sigma_s, sigma_c uniform per sample and channel in the ranges; the curve uniform over the 201; the pattern
    uniform over the release's six choices, two of which leave the image unmosaiced."""
    model = CRFCameraNoise(sigma_s=[0.01, 0.05], sigma_c=[0, 0.02], crf='dorf', dorf_dir=DORF)
    params = model(torch.rand(3000, 3, 4, 4), torch.Generator().manual_seed(0)).params
    for key, (low, high) in (('sigma_s', (0.01, 0.05)), ('sigma_c', (0, 0.02))):
        values = params[key]
        assert values.shape == (3000, 3) and low <= values.min() and values.max() <= high
        assert abs(values.mean().item() - (low + high) / 2) < 0.02 * (high - low)  # uniform: the middle on average
        assert (values[:, 0] != values[:, 1]).all()  # drawn per channel
    curves = params['crf_index']
    assert curves.min() >= 0 and curves.max() <= 200 and len(curves.unique()) > 190
    counts = torch.bincount(params['pattern_index'], minlength=6)
    assert counts.shape == (6, ) and (counts - 500).abs().max() < 90  # about 1/6 each
    assert model.patterns.count('none') == 2
