"""Noise models: torch, batched, device-agnostic; no BasicSR import (usable alone).

Every model is called as ``model(x, generator=None) -> NoiseSample`` on a float batch ``(B, C, H, W)`` in [0, 1]
and draws its parameters per sample; ``build_noise({'type': ..., ...})`` builds one from options.
"""
from .base import NoiseModel, NoiseSample
from .bayer import PATTERNS, bayer_masks, demosaic, mosaic
from .camera import SIDD_NLF, CameraNoise
from .compose import ComposeNoise, JPEGNoise, RandomChoiceNoise
from .crf import CRFCameraNoise, DoRFCurves, GammaCurves
from .gaussian import (AWGNNoise, DBSNHeteroscedasticNoise, HeteroscedasticGaussianNoise, MultivariateGaussianNoise,
                       draw_gaussian_noise, noise_std_map)
from .generator import GeneratorNoise
from .nlf import fit_nlf
from .poisson import PoissonGaussianNoise, PoissonNoise
from .registry import NOISE_REGISTRY, build_noise

__all__ = [
    'NOISE_REGISTRY',
    'PATTERNS',
    'SIDD_NLF',
    'AWGNNoise',
    'CRFCameraNoise',
    'CameraNoise',
    'ComposeNoise',
    'DBSNHeteroscedasticNoise',
    'DoRFCurves',
    'GammaCurves',
    'GeneratorNoise',
    'HeteroscedasticGaussianNoise',
    'JPEGNoise',
    'MultivariateGaussianNoise',
    'NoiseModel',
    'NoiseSample',
    'PoissonGaussianNoise',
    'PoissonNoise',
    'RandomChoiceNoise',
    'bayer_masks',
    'build_noise',
    'demosaic',
    'draw_gaussian_noise',
    'fit_nlf',
    'mosaic',
    'noise_std_map',
]
