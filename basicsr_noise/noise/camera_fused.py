"""The bilinear camera pipeline written for ``torch.compile``, which fuses it into one function.

:func:`~basicsr_noise.noise.camera.simulate_camera` is tuned for eager execution: in-place steps, strided slices
for the mosaic, ``einsum`` for the colour matrices. Compiled, those become scalar gathers with index arithmetic and
separate matrix products, and the result is slower than eager. Here every colour channel is its own tensor, the
Bayer sampling is a product with given masks and the 3x3 colour matrices are sums, so that inductor emits one
vectorised C++ function on CPU around the transcendental functions that dominate the cost. Eager,
this formulation is about twice as slow as ``simulate_camera``; it is only meant to be compiled.
"""
import torch

from .bayer import _BILINEAR_G, _BILINEAR_RB, _symmetric_pad
from .isp import _gains, apply_inverse_gains, inverse_tone, power_, tone


def _matrix_sum(channels, matrix):
    """Apply per-sample 3x3 matrices ``(B, 3, 3)`` to a list of three ``(B, 1, H, W)`` channels."""
    m = matrix.to(channels[0].dtype)[..., None, None, None]
    return [m[:, i, 0] * channels[0] + m[:, i, 1] * channels[1] + m[:, i, 2] * channels[2] for i in range(3)]


def _inverse_3x3(m):
    """Inverses of ``(B, 3, 3)`` matrices by cofactors: pointwise, so fused, unlike ``linalg.inv``'s LU call."""
    cofactors = torch.stack([torch.linalg.cross(m[:, 1], m[:, 2]), torch.linalg.cross(m[:, 2], m[:, 0]),
                             torch.linalg.cross(m[:, 0], m[:, 1])], 2)
    return cofactors / (m[:, 0] * cofactors[:, :, 0]).sum(-1)[:, None, None]


def add_raw_noise(raw, shot, read, eps):
    """Raw ``(B, 1, H, W)`` plus heteroscedastic Gaussian noise of variance ``shot * raw + read``, clipped to [0, 1];
    ``eps`` holds the standard normal draws. Shared by the eager and the fused pipeline."""
    std = raw * shot.to(raw.dtype).reshape(-1, 1, 1, 1)
    std = std.add_(read.to(raw.dtype).reshape(-1, 1, 1, 1)).sqrt_()
    return (eps * std).add_(raw).clamp_(0, 1)


def _tap_sum(padded, kernel, scale, height, width):
    """Correlate a padded plane with a centred kernel (nested lists) as a sum of shifted slices."""
    total = 0
    for i, row in enumerate(kernel):
        for j, weight in enumerate(row):
            if weight:
                total = total + padded[..., i:i + height, j:j + width] * (weight / scale)
    return total


def simulate_camera_fused(x, params, shot, read, eps, masks, apply_tone=True):
    """:func:`~basicsr_noise.noise.camera.simulate_camera` with bilinear demosaicing, in a compilable form.

    Args:
        x, params, shot, read, eps, apply_tone: As for ``simulate_camera``.
        masks (Tensor): Bayer masks ``(1, 3, H, W)`` for the whole batch or ``(B, 3, H, W)`` per sample
            (:func:`~basicsr_noise.noise.bayer.bayer_masks`), in ``x``'s dtype; they replace ``pattern``.

    Returns:
        Tensor: Noisy sRGB ``(B, 3, H, W)``, equal to ``simulate_camera``'s up to float rounding.
    """
    height, width = x.shape[-2:]
    linear = power_(inverse_tone(x).clamp_min_(1e-8), 2.2).split(1, 1)
    camera = _matrix_sum(linear, params['rgb2cam'])
    grey = (camera[0] + camera[1] + camera[2]) / 3
    inverse_gains = (1.0 / _gains(params, x.dtype)).split(1, 1)
    raw = sum(apply_inverse_gains(camera[c], grey, inverse_gains[c]) * masks[:, c:c + 1] for c in range(3))
    noisy_raw = add_raw_noise(raw, shot, read, eps)

    planes = _symmetric_pad(noisy_raw, 1) * _symmetric_pad(masks, 1)
    kernels = (_BILINEAR_RB, _BILINEAR_G, _BILINEAR_RB)
    gains = _gains(params, x.dtype)
    rgb = [(_tap_sum(planes[:, c:c + 1], kernels[c], 4., height, width) * gains[:, c:c + 1]).clamp(0, 1)
           for c in range(3)]
    out = torch.empty_like(x)
    for c, channel in enumerate(_matrix_sum(rgb, _inverse_3x3(params['rgb2cam']))):
        channel = power_(channel.clamp(1e-8, 1), 1 / 2.2)
        out[:, c:c + 1] = tone(channel) if apply_tone else channel  # slice writes: cat would add a transpose pass
    return out
