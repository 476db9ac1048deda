"""Photon (shot) noise: Poisson and Poisson-Gaussian models."""
import math
import torch

from .base import NoiseModel, NoiseSample
from .registry import NOISE_REGISTRY, check_range, sample_uniform

# Brooks et al., Unprocessing Images for Learned Raw Denoising (CVPR 2019): log-linear shot/read relation.
BROOKS_SHOT_RANGE = (1e-4, 1.2e-2)
BROOKS_READ_SLOPE, BROOKS_READ_INTERCEPT, BROOKS_READ_STD = 2.18, 1.20, 0.26


@NOISE_REGISTRY.register()
class PoissonNoise(NoiseModel):
    """Shot noise: ``y = Poisson(x * peak) / peak``, variance ``x / peak``.

    Args:
        peak (float | list): Photons at intensity 1, a number or a ``[min, max]`` range drawn per sample.
        log_uniform (bool): Draw a range log-uniformly (default), else uniformly (NoiseTransfer's chi ~ U(5, 100)).
    """

    def __init__(self, peak=30, log_uniform=True, **kwargs):
        super().__init__(**kwargs)
        self.peak = check_range(peak, 'PoissonNoise.peak')
        self.log_uniform = bool(log_uniform)
        if self.peak[0] <= 0:
            raise ValueError('PoissonNoise.peak must be positive.')

    def sample(self, x, generator=None):
        peak = sample_uniform(self.peak, x.shape[0], generator, x.device, log=self.log_uniform)
        peak = peak.to(x.dtype).reshape(-1, 1, 1, 1)
        noisy = torch.poisson(x.clamp_min(0) * peak, generator=generator) / peak
        return NoiseSample(noisy, torch.sqrt(x.clamp_min(0) / peak), params={'peak': peak.flatten()})


def sample_brooks_shot_read(batch, generator, device):
    """Brooks et al.'s shot and read noise variances: log-uniform shot, read log-linear in shot plus N(0, 0.26^2)."""
    low, high = math.log(BROOKS_SHOT_RANGE[0]), math.log(BROOKS_SHOT_RANGE[1])
    log_shot = low + (high - low) * torch.rand(batch, generator=generator, device=device, dtype=torch.float64)
    jitter = torch.randn(batch, generator=generator, device=device, dtype=torch.float64) * BROOKS_READ_STD
    log_read = BROOKS_READ_SLOPE * log_shot + BROOKS_READ_INTERCEPT + jitter
    return log_shot.exp(), log_read.exp()


@NOISE_REGISTRY.register()
class PoissonGaussianNoise(NoiseModel):
    """Shot plus read noise: ``y = a * Poisson(x / a) + N(0, b)``, variance ``a * x + b``.

    Args:
        a (float | list): Shot-noise gain (variance per unit intensity); number or ``[min, max]`` (log-uniform).
        b (float | list): Read-noise variance; number or ``[min, max]`` (log-uniform).
        sampling (str): ``ranges`` (default) draws ``a`` and ``b`` independently; ``brooks`` draws them with the
            log-linear relation of Brooks et al. 2019 (``a`` and ``b`` are then ignored).
    """

    def __init__(self, a=0.01, b=1e-4, sampling='ranges', **kwargs):
        super().__init__(**kwargs)
        if sampling not in ('ranges', 'brooks'):
            raise ValueError(f'PoissonGaussianNoise.sampling must be ranges or brooks, got {sampling!r}.')
        self.sampling = sampling
        self.a = check_range(a, 'PoissonGaussianNoise.a')
        self.b = check_range(b, 'PoissonGaussianNoise.b')
        if self.a[0] <= 0 or self.b[0] < 0:
            raise ValueError('PoissonGaussianNoise: a must be positive and b non-negative.')

    def sample(self, x, generator=None):
        batch = x.shape[0]
        if self.sampling == 'brooks':
            a, b = sample_brooks_shot_read(batch, generator, x.device)
        else:
            a = sample_uniform(self.a, batch, generator, x.device, log=True)
            b = sample_uniform(self.b, batch, generator, x.device, log=self.b[0] > 0)
        a, b = a.to(x.dtype).reshape(-1, 1, 1, 1), b.to(x.dtype).reshape(-1, 1, 1, 1)
        signal = x.clamp_min(0)
        shot = a * torch.poisson(signal / a, generator=generator)
        read = torch.randn(x.shape, generator=generator, device=x.device, dtype=x.dtype) * b.sqrt()
        return NoiseSample(shot + read, torch.sqrt(a * signal + b), params={'a': a.flatten(), 'b': b.flatten()})
