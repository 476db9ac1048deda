import pytest
import torch

from basicsr_noise.noise import NOISE_REGISTRY, build_noise

LEVELS = torch.tensor([0.1, 0.3, 0.6, 0.9], dtype=torch.float64)


def _stripes(batch=2, channels=3, size=512):
    """Four vertical stripes of constant intensity: about 4e5 samples per level."""
    x = LEVELS.repeat_interleave(size // 4).reshape(1, 1, 1, size)
    return x.expand(batch, channels, size, size).contiguous()


# (options, analytic variance as a function of x)
MODELS = {
    'awgn': ({'type': 'AWGNNoise', 'sigma': 25}, lambda x: torch.full_like(x, (25 / 255.)**2)),
    'hetero': ({'type': 'HeteroscedasticGaussianNoise', 'a': 0.01, 'b': 4e-4}, lambda x: 0.01 * x + 4e-4),
    'hetero_alpha_delta': ({'type': 'HeteroscedasticGaussianNoise', 'alpha': 40, 'delta': 10},
                           lambda x: (40 / 255.)**2 * x + (10 / 255.)**2),
    'dbsn_hg': ({'type': 'DBSNHeteroscedasticNoise', 'sigma_s': 40, 'sigma_c': 10},
                lambda x: (40 / 255. * x)**2 + (10 / 255.)**2),
    'poisson': ({'type': 'PoissonNoise', 'peak': 20}, lambda x: x / 20),
    'poisson_gaussian': ({'type': 'PoissonGaussianNoise', 'a': 0.02, 'b': 1e-3}, lambda x: 0.02 * x + 1e-3),
}


@pytest.mark.parametrize('name', sorted(MODELS))
def test_empirical_variance_matches_the_model(name):
    opt, variance = MODELS[name]
    x = _stripes()
    result = build_noise(opt)(x, torch.Generator().manual_seed(0))
    expected = variance(x)
    torch.testing.assert_close(result.std.expand_as(x)**2, expected, rtol=1e-6, atol=1e-12)
    residual = result.noisy - x
    for i, level in enumerate(LEVELS):
        cols = slice(i * 128, (i + 1) * 128)
        assert residual[..., cols].mean().abs() < 3 * expected[..., cols].mean().sqrt() / 600
        assert residual[..., cols].var().item() == pytest.approx(expected[..., cols].mean().item(), rel=0.02), level


def test_multivariate_gaussian_has_the_returned_covariance():
    x = torch.full((2, 3, 512, 512), 0.5, dtype=torch.float64)
    result = build_noise({'type': 'MultivariateGaussianNoise', 'sigma': 75})(x, torch.Generator().manual_seed(0))
    assert not torch.allclose(result.cov[0], result.cov[1])  # one random covariance per sample
    for i in range(2):
        n = (result.noisy[i] - x[i]).reshape(3, -1)
        empirical = n @ n.T / n.shape[1]
        torch.testing.assert_close(empirical, result.cov[i], rtol=0.03, atol=0.02 * result.cov[i].diag().max())
        assert torch.linalg.eigvalsh(result.cov[i]).min() >= -1e-12
        torch.testing.assert_close(result.std[i].flatten()**2, result.cov[i].diag())
    covariance = [[400, 200, 0], [200, 400, 0], [0, 0, 100]]
    fixed = build_noise({'type': 'MultivariateGaussianNoise', 'covariance': covariance})
    cov = fixed(x).cov[0] * 255.**2
    torch.testing.assert_close(cov, torch.tensor([[400., 200, 0], [200, 400, 0], [0, 0, 100]], dtype=cov.dtype))


@pytest.mark.parametrize('device', [
    'cpu', pytest.param('cuda', marks=pytest.mark.skipif(not torch.cuda.is_available(), reason='needs a CUDA GPU'))
])
@pytest.mark.parametrize('name', sorted(NOISE_REGISTRY.keys()))
def test_a_fixed_generator_gives_identical_output(name, device, tmp_path):
    models = [{'type': 'AWGNNoise', 'sigma': [1, 20]}, {'type': 'PoissonNoise'}]
    extra = {'HeteroscedasticGaussianNoise': {'a': [0.001, 0.01], 'b': 1e-4}, 'ComposeNoise': {'models': models},
             'RandomChoiceNoise': {'models': models}}
    if name == 'GeneratorNoise':  # a small SMNet checkpoint with its AWGN input, as PNGANModel writes it
        from basicsr_noise.archs.pngan_arch import SMNet
        net_opt = {'type': 'SMNet', 'num_feat': 4, 'num_groups': 1, 'num_blocks': 1}
        torch.save({'params': SMNet(num_feat=4, num_groups=1, num_blocks=1).state_dict(),
                    'meta': {'network_g': net_opt, 'input_noise': {'type': 'AWGNNoise', 'sigma': 50}}},
                   tmp_path / 'g.pth')
        extra['GeneratorNoise'] = {'checkpoint': str(tmp_path / 'g.pth')}
    opt = {'type': name, **extra.get(name, {})}
    x = torch.rand(3, 3, 16, 16, generator=torch.Generator().manual_seed(1)).to(device)
    a = build_noise(opt)(x, torch.Generator(device=device).manual_seed(5)).noisy
    b = build_noise(opt)(x, torch.Generator(device=device).manual_seed(5)).noisy
    c = build_noise(opt)(x, torch.Generator(device=device).manual_seed(6)).noisy
    assert a.device.type == device
    assert torch.equal(a, b) and not torch.equal(a, c)


def test_ranges_draw_one_value_per_sample():
    x = torch.zeros(64, 1, 8, 8)
    sigma = build_noise({'type': 'AWGNNoise', 'sigma': [5, 50]})(x, torch.Generator().manual_seed(0)).params['sigma']
    assert sigma.shape == (64,) and 5 <= sigma.min() and sigma.max() <= 50 and sigma.std() > 5
    brooks = build_noise({'type': 'PoissonGaussianNoise', 'sampling': 'brooks'})(x, torch.Generator().manual_seed(0))
    a, b = brooks.params['a'].double(), brooks.params['b'].double()
    assert 1e-4 <= a.min() and a.max() <= 1.2e-2
    residual = b.log() - (2.18 * a.log() + 1.2)  # Brooks et al.: log-linear read noise with N(0, 0.26^2) jitter
    assert residual.abs().max() < 4 * 0.26 and 0.15 < residual.std() < 0.4


def test_clip_and_quantize():
    x = torch.full((1, 1, 64, 64), 0.98)
    out = build_noise({'type': 'AWGNNoise', 'sigma': 50, 'clip': True, 'quantize': True})(x).noisy
    assert out.max() <= 1 and out.min() >= 0
    torch.testing.assert_close(out * 255, torch.round(out * 255))


def test_bad_options_are_named():
    with pytest.raises(ValueError, match=r'AWGNNoise.sigma: range \[50.0, 5.0\] has min > max'):
        build_noise({'type': 'AWGNNoise', 'sigma': [50, 5]})
    with pytest.raises(KeyError, match="Did you mean 'PoissonNoise'"):
        build_noise({'type': 'PoisonNoise'})
    with pytest.raises(ValueError, match='AWGNNoise: .*sigmaa'):
        build_noise({'type': 'AWGNNoise', 'sigmaa': 5})
    with pytest.raises(ValueError, match='expects a float batch'):
        build_noise({'type': 'AWGNNoise'})(torch.zeros(8, 8))
    with pytest.raises(ValueError, match='positive semi-definite'):
        build_noise({'type': 'MultivariateGaussianNoise', 'covariance': [[1, 2, 0], [2, 1, 0], [0, 0, 1]]})
