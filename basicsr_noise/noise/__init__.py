"""Noise models: torch, batched, device-agnostic; no BasicSR import (usable alone)."""
from .gaussian import NoiseSample, draw_gaussian_noise, noise_std_map
from .nlf import fit_nlf

__all__ = ['NoiseSample', 'draw_gaussian_noise', 'fit_nlf', 'noise_std_map']
