"""Gaussian noise with a known covariance: AWGN, per-pixel standard deviation maps and noise-level functions.

Everything works on float batches ``(B, C, H, W)`` in [0, 1], on any device, with an optional
``torch.Generator`` for reproducible draws.
"""
import torch

from .base import NoiseModel, NoiseSample
from .registry import NOISE_REGISTRY, check_range, sample_uniform


def _per_sample_channel(value, x, name):
    """Broadcast a scalar, ``(C,)``, ``(B,)`` or ``(B, C)`` value to ``(B, C, 1, 1)`` on ``x``'s device."""
    b, c = x.shape[:2]
    t = torch.as_tensor(value, dtype=x.dtype, device=x.device)
    if t.dim() == 0:
        return t.expand(b, c).reshape(b, c, 1, 1)
    if t.dim() == 1:
        if t.numel() == c and t.numel() != b:
            return t.reshape(1, c, 1, 1).expand(b, c, 1, 1)
        if t.numel() == b:
            return t.reshape(b, 1, 1, 1).expand(b, c, 1, 1)
        if t.numel() == 1:
            return t.reshape(1, 1, 1, 1).expand(b, c, 1, 1)
    if t.dim() == 2 and t.shape[0] == b and t.shape[1] in (1, c):
        return t.reshape(b, -1, 1, 1).expand(b, c, 1, 1)
    raise ValueError(f'{name}: expected a scalar or a tensor of shape (C,), (B,) or (B, C) with B={b}, C={c}; '
                     f'got shape {tuple(t.shape)}.')


def noise_std_map(x, sigma=None, sigma_map=None, nlf=None):
    """Per-pixel noise standard deviation of a Gaussian noise model, broadcastable to ``x``.

    Exactly one of the arguments describes the noise:

    Args:
        x (Tensor): Signal proxy ``(B, C, H, W)`` in [0, 1]; the noise-level function is evaluated on it.
        sigma (float | Tensor): Standard deviation (on the [0, 1] scale) per batch, channel or sample.
        sigma_map (Tensor): Per-pixel standard deviation, broadcastable to ``x``.
        nlf (tuple): ``(a, b)`` of a noise-level function, variance ``a * x + b``, each a scalar or per
            channel / sample as for ``sigma``.

    Returns:
        Tensor: Standard deviation, ``(B, C, 1, 1)`` for ``sigma`` and ``(B, C, H, W)`` otherwise.
    """
    given = [v is not None for v in (sigma, sigma_map, nlf)]
    if sum(given) != 1:
        raise ValueError('Give exactly one of sigma, sigma_map and nlf.')
    if sigma is not None:
        return _per_sample_channel(sigma, x, 'sigma')
    if sigma_map is not None:
        sigma_map = torch.as_tensor(sigma_map, dtype=x.dtype, device=x.device)
        try:
            torch.broadcast_shapes(sigma_map.shape, x.shape)
        except RuntimeError:
            raise ValueError(f'sigma_map of shape {tuple(sigma_map.shape)} does not broadcast to the image '
                             f'batch of shape {tuple(x.shape)}.') from None
        return sigma_map
    a, b = nlf
    variance = _per_sample_channel(a, x, 'nlf a') * x.clamp(0, 1) + _per_sample_channel(b, x, 'nlf b')
    return variance.clamp_min(0).sqrt()


def draw_gaussian_noise(std, shape, generator=None):
    """Zero-mean Gaussian noise of the given per-pixel standard deviation.

    Args:
        std (Tensor): Standard deviation broadcastable to ``shape``; its device and dtype are used.
        shape (tuple): Shape of the noise, ``(B, C, H, W)``.
        generator (torch.Generator | None): Generator on ``std``'s device, for reproducible draws.

    Returns:
        Tensor: Noise of ``shape``.
    """
    eps = torch.randn(shape, generator=generator, device=std.device, dtype=std.dtype)
    return eps * std


@NOISE_REGISTRY.register()
class AWGNNoise(NoiseModel):
    """Additive white Gaussian noise, one standard deviation per sample.

    Args:
        sigma (float | list): Standard deviation on the 0-255 scale, or a ``[min, max]`` range drawn per sample.
    """

    def __init__(self, sigma=25, **kwargs):
        super().__init__(**kwargs)
        self.sigma = check_range(sigma, 'AWGNNoise.sigma')

    def sample(self, x, generator=None):
        sigma = sample_uniform(self.sigma, x.shape[0], generator, x.device).to(x.dtype)
        std = noise_std_map(x, sigma=sigma / 255.)
        return NoiseSample(x + draw_gaussian_noise(std, x.shape, generator), std, params={'sigma': sigma})


@NOISE_REGISTRY.register()
class HeteroscedasticGaussianNoise(NoiseModel):
    """Signal-dependent Gaussian noise with variance ``a * x + b`` (x in [0, 1]), per channel alike.

    Give either ``a`` and ``b`` (on the [0, 1] scale) or ``alpha`` and ``delta`` (on the 0-255 scale, the DBSN
    paper's "HG" parameters read as variance ``(alpha / 255)^2 * x + (delta / 255)^2``); each a number or a
    ``[min, max]`` range drawn per sample.
    """

    def __init__(self, a=None, b=None, alpha=None, delta=None, **kwargs):
        super().__init__(**kwargs)
        if (a is None) == (alpha is None) or (b is None) == (delta is None) or (a is None) != (b is None):
            raise ValueError('HeteroscedasticGaussianNoise: give a and b, or alpha and delta.')
        if a is not None:
            self.a, self.b = check_range(a, 'a'), check_range(b, 'b')
        else:
            alpha, delta = check_range(alpha, 'alpha'), check_range(delta, 'delta')
            self.a = tuple((v / 255.)**2 for v in alpha)
            self.b = tuple((v / 255.)**2 for v in delta)
        if self.a[0] < 0 or self.b[0] < 0:
            raise ValueError('HeteroscedasticGaussianNoise: variances must be non-negative.')

    def sample(self, x, generator=None):
        a = sample_uniform(self.a, x.shape[0], generator, x.device).to(x.dtype)
        b = sample_uniform(self.b, x.shape[0], generator, x.device).to(x.dtype)
        std = noise_std_map(x, nlf=(a, b))
        return NoiseSample(x + draw_gaussian_noise(std, x.shape, generator), std, params={'a': a, 'b': b})


@NOISE_REGISTRY.register()
class DBSNHeteroscedasticNoise(NoiseModel):
    """The "HG" noise of the official DBSN code: ``y = x + sigma_s * x * n1 + sigma_c * n2``.

    The standard deviation is ``sqrt((sigma_s * x)^2 + sigma_c^2)`` (multiplicative in x, unlike
    :class:`HeteroscedasticGaussianNoise`); ``sigma_s`` and ``sigma_c`` are on the 0-255 scale, numbers or ranges.
    """

    def __init__(self, sigma_s=40, sigma_c=10, **kwargs):
        super().__init__(**kwargs)
        self.sigma_s = check_range(sigma_s, 'DBSNHeteroscedasticNoise.sigma_s')
        self.sigma_c = check_range(sigma_c, 'DBSNHeteroscedasticNoise.sigma_c')

    def sample(self, x, generator=None):
        shape = (x.shape[0], 1, 1, 1)
        s = sample_uniform(self.sigma_s, x.shape[0], generator, x.device).to(x.dtype).reshape(shape) / 255.
        c = sample_uniform(self.sigma_c, x.shape[0], generator, x.device).to(x.dtype).reshape(shape) / 255.
        n1 = torch.randn(x.shape, generator=generator, device=x.device, dtype=x.dtype)
        n2 = torch.randn(x.shape, generator=generator, device=x.device, dtype=x.dtype)
        std = torch.sqrt((s * x)**2 + c**2)
        params = {'sigma_s': s.flatten() * 255., 'sigma_c': c.flatten() * 255.}
        return NoiseSample(x + s * x * n1 + c * n2, std, params=params)


def random_rotation(batch, channels, generator, device, dtype):
    """Random orthonormal matrices ``(B, C, C)`` (QR of Gaussian matrices with the sign ambiguity removed)."""
    g = torch.randn(batch, channels, channels, generator=generator, device=device, dtype=torch.float64)
    q, r = torch.linalg.qr(g)
    return (q * torch.sign(torch.diagonal(r, dim1=-2, dim2=-1))[:, None, :]).to(dtype)


@NOISE_REGISTRY.register()
class MultivariateGaussianNoise(NoiseModel):
    """Spatially white Gaussian noise correlated across colour channels.

    Either a fixed ``covariance`` (C x C, on the 0-255 scale squared), or, as in DBSN, a random covariance per
    sample ``(sigma / 255)^2 * U diag(lambda) U^T`` with ``U`` a random rotation and ``lambda ~ U(0, 1)^C``.
    """

    def __init__(self, sigma=75, covariance=None, **kwargs):
        super().__init__(**kwargs)
        self.sigma = check_range(sigma, 'MultivariateGaussianNoise.sigma')
        self.covariance = None
        if covariance is not None:
            cov = torch.as_tensor(covariance, dtype=torch.float64) / 255.**2
            if cov.dim() != 2 or cov.shape[0] != cov.shape[1] or not torch.allclose(cov, cov.T):
                raise ValueError('MultivariateGaussianNoise.covariance must be a symmetric C x C matrix.')
            if torch.linalg.eigvalsh(cov).min() < -1e-12:
                raise ValueError('MultivariateGaussianNoise.covariance is not positive semi-definite.')
            self.covariance = cov

    def sample(self, x, generator=None):
        b, c = x.shape[:2]
        if self.covariance is not None:
            if self.covariance.shape[0] != c:
                raise ValueError(f'MultivariateGaussianNoise: covariance is for {self.covariance.shape[0]} channels, '
                                 f'the images have {c}.')
            cov = self.covariance.to(x.device).expand(b, c, c)
        else:
            sigma = sample_uniform(self.sigma, b, generator, x.device) / 255.
            u = random_rotation(b, c, generator, x.device, torch.float64)
            lam = torch.rand(b, c, generator=generator, device=x.device, dtype=torch.float64)
            cov = sigma.reshape(b, 1, 1)**2 * (u * lam[:, None, :]) @ u.transpose(1, 2)
        evals, evecs = torch.linalg.eigh(cov)
        root = (evecs * evals.clamp_min(0).sqrt()[:, None, :]).to(x.dtype)  # root @ root^T = cov
        eps = torch.randn(x.shape, generator=generator, device=x.device, dtype=x.dtype)
        noise = torch.einsum('bij,bjhw->bihw', root, eps)
        std = torch.diagonal(cov, dim1=-2, dim2=-1).sqrt().to(x.dtype).reshape(b, c, 1, 1)
        return NoiseSample(x + noise, std, cov=cov.to(x.dtype))
