"""Gaussian noise with a known covariance: AWGN, per-pixel standard deviation maps and noise-level functions.

Everything works on float batches ``(B, C, H, W)`` in [0, 1], on any device, with an optional
``torch.Generator`` for reproducible draws.
"""
import torch
from dataclasses import dataclass
from typing import Optional


@dataclass
class NoiseSample:
    """A noisy batch and what the noise model knows about its noise.

    Attributes:
        noisy (Tensor): Noisy batch, ``(B, C, H, W)``.
        std (Tensor | None): Per-pixel noise standard deviation, broadcastable to ``noisy``.
    """
    noisy: torch.Tensor
    std: Optional[torch.Tensor] = None


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
