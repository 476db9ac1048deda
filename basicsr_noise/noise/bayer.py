"""Bayer mosaicing and demosaicing, batched in torch, numerically matching ``colour_demosaicing``.

Methods: ``bilinear`` and ``malvar2004`` (Malvar, He and Cutler, *High-quality linear interpolation for
demosaicing of Bayer-patterned color images*, ICASSP 2004). Borders use half-sample symmetric extension, as
``scipy.ndimage.convolve`` (the reference implementation's filter) does by default.
"""
import torch
import torch.nn.functional as F

PATTERNS = ('RGGB', 'BGGR', 'GRBG', 'GBRG')
METHODS = ('bilinear', 'malvar2004')

_BILINEAR_G = [[0, 1, 0], [1, 4, 1], [0, 1, 0]]
_BILINEAR_RB = [[1, 2, 1], [2, 4, 2], [1, 2, 1]]
# Malvar et al. 2004, Fig. 2 (coefficients x 8)
_MALVAR_G_AT_RB = [[0, 0, -1, 0, 0], [0, 0, 2, 0, 0], [-1, 2, 4, 2, -1], [0, 0, 2, 0, 0], [0, 0, -1, 0, 0]]
_MALVAR_RB_AT_G_ROW = [[0, 0, .5, 0, 0], [0, -1, 0, -1, 0], [-1, 4, 5, 4, -1], [0, -1, 0, -1, 0], [0, 0, .5, 0, 0]]
_MALVAR_RB_AT_BR = [[0, 0, -1.5, 0, 0], [0, 2, 0, 2, 0], [-1.5, 0, 6, 0, -1.5], [0, 2, 0, 2, 0], [0, 0, -1.5, 0, 0]]


def _check_pattern(pattern):
    if not isinstance(pattern, str) or pattern.upper() not in PATTERNS:
        raise ValueError(f'Unknown Bayer pattern {pattern!r}; use one of {", ".join(PATTERNS)}.')
    return pattern.upper()


def bayer_masks(height, width, pattern='RGGB', device=None, dtype=torch.float32):
    """Red, green and blue sampling masks of a Bayer pattern, ``(3, H, W)``."""
    pattern = _check_pattern(pattern)
    masks = torch.zeros(3, height, width, device=device, dtype=dtype)
    for colour, (y, x) in zip(pattern, ((0, 0), (0, 1), (1, 0), (1, 1))):
        masks['RGB'.index(colour), y::2, x::2] = 1
    return masks


def mosaic(rgb, pattern='RGGB'):
    """Sample an RGB batch ``(B, 3, H, W)`` through a Bayer colour filter array; returns ``(B, 1, H, W)``."""
    if rgb.dim() != 4 or rgb.shape[1] != 3:
        raise ValueError(f'mosaic expects an RGB batch (B, 3, H, W), got shape {tuple(rgb.shape)}.')
    masks = bayer_masks(rgb.shape[-2], rgb.shape[-1], pattern, rgb.device, rgb.dtype)
    return (rgb * masks).sum(1, keepdim=True)


def _symmetric_pad(x, pad):
    """Half-sample symmetric padding (``d c b a | a b c d | d c b a``) of the last two dimensions."""
    if pad > min(x.shape[-2:]):
        raise ValueError(f'Image of size {tuple(x.shape[-2:])} is too small for a {2 * pad + 1}-tap filter.')
    x = torch.cat([x[..., :pad].flip(-1), x, x[..., -pad:].flip(-1)], -1)
    return torch.cat([x[..., :pad, :].flip(-2), x, x[..., -pad:, :].flip(-2)], -2)


def _filter(x, kernels, scale):
    """Correlate ``(B, 1, H, W)`` with several kernels at once; returns ``(B, K, H, W)``."""
    weight = torch.tensor(kernels, dtype=x.dtype, device=x.device) / scale
    weight = weight[:, None] if weight.dim() == 3 else weight[None, None]
    return F.conv2d(_symmetric_pad(x, weight.shape[-1] // 2), weight)


def demosaic(raw, pattern='RGGB', method='bilinear'):
    """Reconstruct RGB from a Bayer mosaic.

    Args:
        raw (Tensor): ``(B, 1, H, W)`` or ``(B, H, W)``, float.
        pattern (str): ``RGGB``, ``BGGR``, ``GRBG`` or ``GBRG``.
        method (str): ``bilinear`` or ``malvar2004``.

    Returns:
        Tensor: ``(B, 3, H, W)``.
    """
    if method not in METHODS:
        raise ValueError(f'Unknown demosaicing method {method!r}; use one of {", ".join(METHODS)}.')
    if raw.dim() == 3:
        raw = raw[:, None]
    if raw.dim() != 4 or raw.shape[1] != 1:
        raise ValueError(f'demosaic expects a mosaic (B, 1, H, W) or (B, H, W), got shape {tuple(raw.shape)}.')
    masks = bayer_masks(raw.shape[-2], raw.shape[-1], pattern, raw.device, raw.dtype)
    r_mask, g_mask, b_mask = masks[0], masks[1], masks[2]
    if method == 'bilinear':  # one padded, grouped convolution of the three sparse colour planes
        weight = torch.tensor([_BILINEAR_RB, _BILINEAR_G, _BILINEAR_RB], dtype=raw.dtype, device=raw.device) / 4.
        return F.conv2d(_symmetric_pad(raw * masks, 1), weight[:, None], groups=3)

    rb_at_g_row = _MALVAR_RB_AT_G_ROW
    rb_at_g_col = [list(row) for row in zip(*_MALVAR_RB_AT_G_ROW)]
    g_at_rb, rb_row, rb_col, rb_at_br = _filter(
        raw, [_MALVAR_G_AT_RB, rb_at_g_row, rb_at_g_col, _MALVAR_RB_AT_BR], 8.).unbind(1)
    raw = raw[:, 0]
    red_rows = r_mask.amax(1, keepdim=True).expand_as(r_mask) > 0
    red_cols = r_mask.amax(0, keepdim=True).expand_as(r_mask) > 0
    blue_rows = b_mask.amax(1, keepdim=True).expand_as(b_mask) > 0
    blue_cols = b_mask.amax(0, keepdim=True).expand_as(b_mask) > 0

    green = torch.where((r_mask + b_mask) > 0, g_at_rb, raw * g_mask)
    red, blue = raw * r_mask, raw * b_mask
    red = torch.where(red_rows & blue_cols, rb_row, red)  # green pixels in red rows
    red = torch.where(blue_rows & red_cols, rb_col, red)  # green pixels in blue rows
    blue = torch.where(blue_rows & red_cols, rb_row, blue)
    blue = torch.where(red_rows & blue_cols, rb_col, blue)
    red = torch.where(blue_rows & blue_cols, rb_at_br, red)  # red at blue pixels
    blue = torch.where(red_rows & red_cols, rb_at_br, blue)  # blue at red pixels
    return torch.stack([red, green, blue], 1)
