"""Noise models: torch, batched, device-agnostic; no BasicSR import (usable alone)."""
from .bayer import PATTERNS, bayer_masks, demosaic, mosaic
from .gaussian import NoiseSample, draw_gaussian_noise, noise_std_map
from .nlf import fit_nlf

__all__ = [
    'PATTERNS', 'NoiseSample', 'bayer_masks', 'demosaic', 'draw_gaussian_noise', 'fit_nlf', 'mosaic', 'noise_std_map'
]
