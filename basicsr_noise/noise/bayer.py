"""Bayer mosaicing and demosaicing, batched in torch, numerically matching ``colour_demosaicing``.

Methods: ``bilinear``; ``malvar2004`` (Malvar, He and Cutler, *High-quality linear interpolation for
demosaicing of Bayer-patterned color images*, ICASSP 2004); ``menon2007`` (Menon, Andriani and Calvagno,
*Demosaicing with directional filtering and a posteriori decision*, IEEE TIP 2007, with its refining step).
Borders follow the reference implementation in ``colour_demosaicing``: half-sample symmetric extension for the
first two (``scipy.ndimage.convolve``'s default), whole-sample symmetric (``mirror``) for the directional filters
of the third and zeros for its classifier.
"""
import torch
import torch.nn.functional as F

PATTERNS = ('RGGB', 'BGGR', 'GRBG', 'GBRG')
METHODS = ('bilinear', 'malvar2004', 'menon2007')

_BILINEAR_G = [[0, 1, 0], [1, 4, 1], [0, 1, 0]]
_BILINEAR_RB = [[1, 2, 1], [2, 4, 2], [1, 2, 1]]
# Malvar et al. 2004, Fig. 2 (coefficients x 8)
_MALVAR_G_AT_RB = [[0, 0, -1, 0, 0], [0, 0, 2, 0, 0], [-1, 2, 4, 2, -1], [0, 0, 2, 0, 0], [0, 0, -1, 0, 0]]
_MALVAR_RB_AT_G_ROW = [[0, 0, .5, 0, 0], [0, -1, 0, -1, 0], [-1, 4, 5, 4, -1], [0, -1, 0, -1, 0], [0, 0, .5, 0, 0]]
_MALVAR_RB_AT_BR = [[0, 0, -1.5, 0, 0], [0, 2, 0, 2, 0], [-1.5, 0, 6, 0, -1.5], [0, 2, 0, 2, 0], [0, 0, -1.5, 0, 0]]
# Menon et al. 2007: the horizontal classifier window (Sec. III, applied as a convolution, hence flipped here for
# correlation) and the colour-difference interpolators.
_MENON_CLASSIFIER = [[1, 0, 1, 0, 0], [0, 1, 0, 0, 0], [3, 0, 3, 0, 0], [0, 1, 0, 0, 0], [1, 0, 1, 0, 0]]
_MENON_PAIR = [0.5, 0, 0.5]
_MENON_MEAN3 = [1 / 3, 1 / 3, 1 / 3]


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
    pattern = _check_pattern(pattern)
    raw = rgb.new_empty(rgb.shape[0], 1, *rgb.shape[-2:])
    for colour, (y, x) in zip(pattern, ((0, 0), (0, 1), (1, 0), (1, 1))):
        raw[:, 0, y::2, x::2] = rgb[:, 'RGB'.index(colour), y::2, x::2]
    return raw


def _symmetric_pad(x, pad):
    """Half-sample symmetric padding (``d c b a | a b c d | d c b a``) of the last two dimensions."""
    if pad > min(x.shape[-2:]):
        raise ValueError(f'Image of size {tuple(x.shape[-2:])} is too small for a {2 * pad + 1}-tap filter.')
    x = torch.cat([x[..., :pad].flip(-1), x, x[..., -pad:].flip(-1)], -1)
    return torch.cat([x[..., :pad, :].flip(-2), x, x[..., -pad:, :].flip(-2)], -2)


def _correlate_padded(padded, kernel, scale, out):
    """Correlate a padded ``(..., H + 2r, W + 2r)`` tensor with a centred ``(2r + 1)``-square kernel (nested lists)
    into ``out`` ``(..., H, W)``.

    The demosaicing kernels are sparse (5 to 11 taps), so a weighted sum of shifted slices does a fraction of a
    convolution's work, and avoids oneDNN's slow path for single-channel convolutions on CPU.
    """
    height, width = out.shape[-2:]
    first = True
    for i, row in enumerate(kernel):
        for j, weight in enumerate(row):
            if weight:
                tap = padded[..., i:i + height, j:j + width]
                if first:
                    out.copy_(tap).mul_(weight / scale)
                    first = False
                else:
                    out.add_(tap, alpha=weight / scale)
    return out


def _correlate(x, kernels, scale):
    """Correlate ``(..., H, W)`` with centred kernels of one size, half-sample symmetric borders; one result
    each."""
    padded = _symmetric_pad(x, len(kernels[0]) // 2)
    return [_correlate_padded(padded, kernel, scale, torch.empty_like(x)) for kernel in kernels]


def _mirror_pad(x, before, after, dim):
    """Whole-sample symmetric padding (``c b | a b c | b a``, scipy's ``mirror``) of ``(B, H, W)`` along ``dim``
    (``-1`` rows, ``-2`` columns)."""
    if x.shape[dim] <= max(before, after):
        raise ValueError(f'Image of size {tuple(x.shape[-2:])} is too small for a {2 * max(before, after) + 1}-tap '
                         'filter.')
    pad = (before, after, 0, 0) if dim == -1 else (0, 0, before, after)
    return F.pad(x[:, None], pad, mode='reflect')[:, 0]


def _mirror_filter(x, taps, dim):
    """Filter ``(B, H, W)`` along rows (``dim=-1``) or columns (``dim=-2``) with a short symmetric kernel and
    mirrored borders, as ``scipy.ndimage.convolve1d(mode='mirror')``."""
    radius, size = len(taps) // 2, x.shape[dim]
    padded = _mirror_pad(x, radius, radius, dim)
    out = None
    for i, weight in enumerate(taps):
        if weight:
            tap = padded.narrow(dim, i, size)
            out = tap * weight if out is None else out.add_(tap, alpha=weight)
    return out


def _mirror_shift2(x, dim):
    """The value two pixels further along ``dim``, mirrored at the far border (Menon's colour-difference
    gradient)."""
    return _mirror_pad(x, 0, 2, dim).narrow(dim, 2, x.shape[dim])


# The direction decision compares two sums that tie exactly in flat and 8-bit regions; the two helpers below round
# as the reference does (scipy.ndimage sums pairs of symmetric taps first, then taps in kernel order, without fused
# multiply-adds), so that ties break the same way.


def _menon_green(raw, dim):
    """Green along a row or column: ``(x[-1] + x[1]) / 2 + (x[0] / 2 - (x[-2] + x[2]) / 4)``, mirrored borders."""
    padded = _mirror_pad(raw, 2, 2, dim)
    x = [padded.narrow(dim, i, raw.shape[dim]) for i in range(5)]
    return (x[1] + x[3]) * 0.5 + (x[2] * 0.5 - (x[0] + x[4]) * 0.25)


def _menon_score(grad, kernel):
    """Zero-padded correlation of the colour-difference gradients with the classifier window."""
    height, width = grad.shape[-2:]
    padded = F.pad(grad, (2, 2, 2, 2))
    score = torch.zeros_like(grad)
    for i, row in enumerate(kernel):
        for j, weight in enumerate(row):
            if weight:
                score = score + padded[..., i:i + height, j:j + width] * weight
    return score


def _demosaic_menon2007(raw, masks):
    """Directional filtering, a posteriori decision and the refining step; ``raw`` is ``(B, H, W)``."""
    r_m, g_m, b_m = (masks[i] > 0 for i in range(3))
    red_rows, blue_rows = r_m.any(1, keepdim=True), b_m.any(1, keepdim=True)
    red_cols, blue_cols = r_m.any(0, keepdim=True), b_m.any(0, keepdim=True)

    def along_rows(x, taps=_MENON_PAIR):
        return _mirror_filter(x, taps, -1)

    def along_cols(x, taps=_MENON_PAIR):
        return _mirror_filter(x, taps, -2)

    # green estimated along rows and along columns; keep the direction of smaller colour-difference gradients
    green_h = torch.where(g_m, raw, _menon_green(raw, -1))
    green_v = torch.where(g_m, raw, _menon_green(raw, -2))
    diff_h = torch.where(g_m, 0., raw - green_h)
    diff_v = torch.where(g_m, 0., raw - green_v)
    grad_h = (diff_h - _mirror_shift2(diff_h, -1)).abs()
    grad_v = (diff_v - _mirror_shift2(diff_v, -2)).abs()
    score_h = _menon_score(grad_h, _MENON_CLASSIFIER)
    score_v = _menon_score(grad_v, [list(col) for col in zip(*_MENON_CLASSIFIER)])
    horizontal = score_v >= score_h
    green = torch.where(horizontal, green_h, green_v)

    # red and blue by interpolating colour differences: at green pixels along the row or column of that colour,
    # at red (blue) pixels along the chosen direction
    red, blue = raw * r_m, raw * b_m
    red = torch.where(g_m & red_rows, green + along_rows(red) - along_rows(green), red)
    red = torch.where(g_m & blue_rows, green + along_cols(red) - along_cols(green), red)
    blue = torch.where(g_m & blue_rows, green + along_rows(blue) - along_rows(green), blue)
    blue = torch.where(g_m & red_rows, green + along_cols(blue) - along_cols(green), blue)
    red_minus_blue = torch.where(horizontal, along_rows(red) - along_rows(blue), along_cols(red) - along_cols(blue))
    red = torch.where(b_m, blue + red_minus_blue, red)
    blue_minus_red = torch.where(horizontal, along_rows(blue) - along_rows(red), along_cols(blue) - along_cols(red))
    blue = torch.where(r_m, red + blue_minus_red, blue)

    def directional_mean(x):
        return torch.where(horizontal, along_rows(x, _MENON_MEAN3), along_cols(x, _MENON_MEAN3))

    # refining step (Sec. IV): green, then red/blue at green pixels, then red/blue at blue/red pixels
    red_minus_green, blue_minus_green = directional_mean(red - green), directional_mean(blue - green)
    green = torch.where(r_m, red - red_minus_green, green)
    green = torch.where(b_m, blue - blue_minus_green, green)
    red_minus_green, blue_minus_green = red - green, blue - green
    red = torch.where(g_m & blue_rows, green + along_cols(red_minus_green), red)
    red = torch.where(g_m & blue_cols, green + along_rows(red_minus_green), red)
    blue = torch.where(g_m & red_rows, green + along_cols(blue_minus_green), blue)
    blue = torch.where(g_m & red_cols, green + along_rows(blue_minus_green), blue)
    red_minus_blue = directional_mean(red - blue)
    red = torch.where(b_m, blue + red_minus_blue, red)
    blue = torch.where(r_m, red - red_minus_blue, blue)
    return torch.stack([red, green, blue], 1)


def demosaic(raw, pattern='RGGB', method='bilinear'):
    """Reconstruct RGB from a Bayer mosaic.

    Args:
        raw (Tensor): ``(B, 1, H, W)`` or ``(B, H, W)``, float.
        pattern (str): ``RGGB``, ``BGGR``, ``GRBG`` or ``GBRG``.
        method (str): ``bilinear``, ``malvar2004`` or ``menon2007`` (with the refining step).

    Returns:
        Tensor: ``(B, 3, H, W)``, not clipped.
    """
    if method not in METHODS:
        raise ValueError(f'Unknown demosaicing method {method!r}; use one of {", ".join(METHODS)}.')
    if raw.dim() == 3:
        raw = raw[:, None]
    if raw.dim() != 4 or raw.shape[1] != 1:
        raise ValueError(f'demosaic expects a mosaic (B, 1, H, W) or (B, H, W), got shape {tuple(raw.shape)}.')
    masks = bayer_masks(raw.shape[-2], raw.shape[-1], pattern, raw.device, raw.dtype)
    r_mask, g_mask, b_mask = masks[0], masks[1], masks[2]
    if method == 'bilinear':  # interpolate each sparse colour plane; padding commutes with masking
        planes = _symmetric_pad(raw, 1) * _symmetric_pad(masks, 1)
        rgb = raw.new_empty(raw.shape[0], 3, *raw.shape[-2:])
        _correlate_padded(planes[:, 0::2], _BILINEAR_RB, 4., rgb[:, 0::2])
        _correlate_padded(planes[:, 1:2], _BILINEAR_G, 4., rgb[:, 1:2])
        return rgb
    if method == 'menon2007':
        return _demosaic_menon2007(raw[:, 0], masks)

    rb_at_g_row = _MALVAR_RB_AT_G_ROW
    rb_at_g_col = [list(row) for row in zip(*_MALVAR_RB_AT_G_ROW)]
    raw = raw[:, 0]
    g_at_rb, rb_row, rb_col, rb_at_br = _correlate(raw, [_MALVAR_G_AT_RB, rb_at_g_row, rb_at_g_col, _MALVAR_RB_AT_BR],
                                                   8.)
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


def bilinear_demosaic_variance(raw_variance, pattern='RGGB'):
    """Per-pixel variance of the bilinear demosaic of a mosaic of independent noise with these variances.

    Bilinear demosaicing is linear, so each output's variance is the correlation of the input variances with the
    squared kernel weights. Exact away from the one-pixel border, where the mirrored padding repeats a sample and the
    map counts the two taps as independent.

    Args:
        raw_variance (Tensor): ``(B, 1, H, W)`` variance of each raw pixel.
        pattern (str): Bayer pattern.

    Returns:
        Tensor: ``(B, 3, H, W)``.
    """
    masks = bayer_masks(raw_variance.shape[-2], raw_variance.shape[-1], pattern, raw_variance.device,
                        raw_variance.dtype)
    planes = _symmetric_pad(raw_variance, 1) * _symmetric_pad(masks, 1)
    squared = [[[w * w for w in row] for row in kernel] for kernel in (_BILINEAR_RB, _BILINEAR_G)]
    out = raw_variance.new_empty(raw_variance.shape[0], 3, *raw_variance.shape[-2:])
    _correlate_padded(planes[:, 0::2], squared[0], 16., out[:, 0::2])
    _correlate_padded(planes[:, 1:2], squared[1], 16., out[:, 1:2])
    return out
