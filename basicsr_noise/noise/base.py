"""The noise-model interface: ``model(x, generator) -> NoiseSample``."""
import torch
from dataclasses import dataclass, field
from typing import Dict, Optional


@dataclass
class NoiseSample:
    """A noisy batch and what the noise model knows about its noise.

    Attributes:
        noisy (Tensor): Noisy batch, ``(B, C, H, W)``.
        std (Tensor | None): Per-pixel noise standard deviation, broadcastable to ``noisy`` (before any clipping
            or quantisation).
        cov (Tensor | None): Cross-channel covariance ``(B, C, C)`` for spatially white Gaussian noise.
        params (dict): The per-sample parameters drawn, each ``(B,)`` (or ``(B, ...)``), e.g. ``sigma``.
    """
    noisy: torch.Tensor
    std: Optional[torch.Tensor] = None
    cov: Optional[torch.Tensor] = None
    params: Dict[str, torch.Tensor] = field(default_factory=dict)


def check_image_batch(x, channels=None, name='noise model'):
    if not torch.is_tensor(x) or x.dim() != 4 or not x.is_floating_point():
        raise ValueError(f'{name} expects a float batch (B, C, H, W) in [0, 1], got '
                         f'{tuple(x.shape) if torch.is_tensor(x) else type(x).__name__}.')
    if channels is not None and x.shape[1] != channels:
        raise ValueError(f'{name} expects {channels}-channel images, got {x.shape[1]} channels.')


class NoiseModel:
    """Base class: subclasses implement ``sample(x, generator) -> NoiseSample`` on unclipped values.

    Args:
        clip (bool): Clip the noisy batch to [0, 1]. Default: False.
        quantize (bool): Round the noisy batch to 8-bit levels (after clipping). Default: False.
    """

    def __init__(self, clip=False, quantize=False):
        self.clip = bool(clip)
        self.quantize = bool(quantize)

    def sample(self, x, generator=None):
        raise NotImplementedError

    def __call__(self, x, generator=None):
        check_image_batch(x, name=type(self).__name__)
        result = self.sample(x, generator)
        if self.clip:
            result.noisy = result.noisy.clamp(0, 1)
        if self.quantize:
            result.noisy = torch.round(result.noisy * 255.) / 255.
        return result
