import pytest
import shutil
import torch

from basicsr_noise.noise import PATTERNS, CameraNoise, bayer_masks, build_noise
from basicsr_noise.noise.camera import simulate_camera
from basicsr_noise.noise.camera_fused import simulate_camera_fused
from basicsr_noise.noise.isp import random_isp_params
from basicsr_noise.noise.poisson import sample_brooks_shot_read


def _flat(value=(0.3, 0.5, 0.4), size=32, batch=4):
    return torch.tensor(value, dtype=torch.float64).reshape(1, 3, 1, 1).expand(batch, 3, size, size).contiguous()


@pytest.mark.parametrize('pattern', PATTERNS)
def test_without_noise_the_camera_returns_the_input(pattern, monkeypatch):
    model = CameraNoise(pattern=pattern)
    zeros = torch.zeros(4, dtype=torch.float64)
    monkeypatch.setattr(model, 'shot_read', lambda b, g, d: (zeros, zeros, zeros.long()))
    x = _flat()
    out = model(x, torch.Generator().manual_seed(0)).noisy
    # flat colour below the highlight knee: exact except where demosaicing meets the border
    torch.testing.assert_close(out[..., 2:-2, 2:-2], x[..., 2:-2, 2:-2], rtol=0, atol=1e-6)


def test_noise_grows_with_iso_and_is_spatially_correlated():
    x = _flat(batch=8, size=64)
    stds, corrs = [], []
    for name in ('GP_00100', 'GP_03200'):
        n = (build_noise({'type': 'CameraNoise', 'nlf': name})(x, torch.Generator().manual_seed(0)).noisy - x)
        n = n[..., 2:-2, 2:-2]
        stds.append(n.std().item())
        a, b = n[..., :, :-1].flatten(), n[..., :, 1:].flatten()
        corrs.append(torch.corrcoef(torch.stack([a, b]))[0, 1].item())
    assert stds[1] > 3 * stds[0] and 2 / 255 < stds[1] < 60 / 255
    assert min(corrs) > 0.1  # demosaicing correlates neighbouring pixels, unlike white noise


def test_brooks_sampling_and_random_patterns_vary_per_sample():
    model = build_noise({'type': 'CameraNoise', 'pattern': 'random'})
    result = model(_flat(batch=32), torch.Generator().manual_seed(0))
    assert len(set(result.params['pattern_index'].tolist())) == 4
    assert result.params['shot'].std() > 0 and (result.params['nlf_index'] == -1).all()


def test_bad_camera_options_and_inputs_are_named():
    with pytest.raises(ValueError, match='XX_00100'):
        CameraNoise(nlf=['GP_00100', 'XX_00100'])
    with pytest.raises(ValueError, match='RGBG'):
        CameraNoise(pattern='RGBG')
    with pytest.raises(ValueError, match="'ahd'"):
        CameraNoise(demosaic_method='ahd')
    with pytest.raises(ValueError, match="compile supports bilinear demosaicing only, got 'malvar2004'"):
        CameraNoise(demosaic_method='malvar2004', compile=True)
    with pytest.raises(ValueError, match='CameraNoise expects 3-channel images, got 1'):
        CameraNoise()(torch.rand(1, 1, 8, 8))


def test_raw_noise_has_the_shot_read_variance(monkeypatch):
    import basicsr_noise.noise.camera as camera
    captured = {}
    real_mosaic, real_demosaic = camera.mosaic, camera.demosaic

    def capture_mosaic(x, pattern):
        captured['raw'] = real_mosaic(x, pattern)
        return captured['raw']

    def capture_demosaic(raw, pattern, method):
        captured['noisy_raw'] = raw
        return real_demosaic(raw, pattern, method)

    monkeypatch.setattr(camera, 'mosaic', capture_mosaic)
    monkeypatch.setattr(camera, 'demosaic', capture_demosaic)
    # mid to bright intensities: raw values far enough from 0 that the raw clip to [0, 1] does not bite
    x = torch.linspace(0.6, 0.85, 256, dtype=torch.float64).reshape(1, 1, 1, 256).expand(8, 3, 256, 256).contiguous()
    result = CameraNoise(nlf='GP_03200')(x, torch.Generator().manual_seed(0))
    raw, noisy_raw = captured['raw'], captured['noisy_raw']
    shot, read = result.params['shot'][0].item(), result.params['read'][0].item()
    assert (shot, read) == (0.007029, 0.000179)
    for cols in (slice(0, 32), slice(224, 256)):
        r, n = raw[..., cols], noisy_raw[..., cols]
        expected = (shot * r + read).mean().item()
        assert (n - r).var().item() == pytest.approx(expected, rel=0.02)


def test_random_patterns_run_each_group_through_the_same_pipeline():
    # a mixed-pattern batch is split by pattern; every sample must equal a one-pattern run with its own draws
    x = torch.rand(8, 3, 16, 16, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    model = CameraNoise(pattern='random', demosaic_method='menon2007')
    result = model(x, torch.Generator().manual_seed(0))
    params = result.params
    g = torch.Generator().manual_seed(0)  # replay the draws: ISP parameters, shot/read, patterns, then noise
    random_isp_params(8, g), sample_brooks_shot_read(8, g, 'cpu'), torch.randint(4, (8, ), generator=g)
    isp = {k: params[k] for k in ('rgb2cam', 'red_gain', 'blue_gain', 'rgb_gain')}
    for p, pattern in enumerate(PATTERNS):
        idx = (params['pattern_index'] == p).nonzero().flatten()
        if idx.numel():
            eps = torch.randn(idx.numel(), 1, 16, 16, generator=g, dtype=torch.float64)
            expected = simulate_camera(x[idx], {k: v[idx] for k, v in isp.items()}, params['shot'][idx],
                                       params['read'][idx], eps, pattern, 'menon2007')
            torch.testing.assert_close(result.noisy[idx], expected, rtol=0, atol=1e-12)


def test_the_fused_pipeline_computes_what_the_eager_one_does():
    # the compilable formulation (per-channel tensors, mask products, matrices as sums) must be the same function
    g = torch.Generator().manual_seed(2)
    x = torch.rand(4, 3, 12, 10, generator=g, dtype=torch.float64)
    x[0] = 0.98  # a bright sample, where the highlight protection and the clipping act
    params = random_isp_params(4, g)
    shot, read = sample_brooks_shot_read(4, g, 'cpu')
    shot[1] = 0.2  # strong noise, clipped in raw
    eps = torch.randn(4, 1, 12, 10, generator=g, dtype=torch.float64)
    masks = torch.stack([bayer_masks(12, 10, p, dtype=torch.float64) for p in PATTERNS])
    for p, pattern in enumerate(PATTERNS):
        for apply_tone in (True, False):
            expected = simulate_camera(x, params, shot, read, eps, pattern, 'bilinear', apply_tone)
            fused = simulate_camera_fused(x, params, shot, read, eps, masks[p, None], apply_tone)
            torch.testing.assert_close(fused, expected, rtol=0, atol=1e-12)
    per_sample = simulate_camera_fused(x, params, shot, read, eps, masks[[0, 1, 2, 3]])
    for p, pattern in enumerate(PATTERNS):
        expected = simulate_camera(x[p:p + 1], {k: v[p:p + 1] for k, v in params.items()}, shot[p:p + 1],
                                   read[p:p + 1], eps[p:p + 1], pattern)
        torch.testing.assert_close(per_sample[p:p + 1], expected, rtol=0, atol=1e-12)


@pytest.mark.skipif(shutil.which('g++') is None, reason='torch.compile on CPU needs a C++ compiler (g++)')
@pytest.mark.parametrize('pattern', ['GBRG', 'random'])
def test_compiled_camera_noise_draws_and_returns_what_the_eager_one_does(pattern):
    x = torch.rand(6, 3, 16, 16, generator=torch.Generator().manual_seed(1))
    eager = CameraNoise(pattern=pattern, nlf=['GP_01600', 'N6_03200'])(x, torch.Generator().manual_seed(0))
    compiled = CameraNoise(pattern=pattern, nlf=['GP_01600', 'N6_03200'], compile=True)
    result = compiled(x, torch.Generator().manual_seed(0))
    if pattern == 'random':
        assert len(set(result.params['pattern_index'].tolist())) > 1
    for key, value in eager.params.items():
        torch.testing.assert_close(result.params[key], value, rtol=0, atol=0)
    torch.testing.assert_close(result.noisy, eager.noisy, rtol=0, atol=2e-6)
    assert (result.noisy - x).abs().mean() > 0.01  # real noise, not a pass-through
