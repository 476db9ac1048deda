"""Fit a noise-level function (variance ``a * x + b`` per channel) to noisy/clean image pairs."""
import torch


def fit_nlf(noisy, clean, num_bins=32, min_count=64, clip_sigmas=2.0):
    """Least-squares fit of the per-channel noise variance as an affine function of the clean intensity.

    The residual ``noisy - clean`` is binned by clean intensity; each bin's variance is one sample of the line,
    weighted by its pixel count. Noise that is clipped at 0 or 1 has a smaller variance and would flatten the
    line, so bins whose mean lies within ``clip_sigmas`` noise standard deviations of 0 or 1 are left out.

    Args:
        noisy (Tensor): Noisy images ``(B, C, H, W)`` in [0, 1].
        clean (Tensor): Matching clean images.
        num_bins (int): Intensity bins on [0, 1]. Default: 32.
        min_count (int): Bins with fewer pixels are ignored. Default: 64.
        clip_sigmas (float): Distance to 0 and 1, in noise standard deviations, below which a bin is treated
            as clipped. Default: 2.

    Returns:
        tuple[Tensor, Tensor]: ``a`` and ``b``, each of shape ``(C,)``.
    """
    if noisy.shape != clean.shape or noisy.dim() != 4:
        raise ValueError(f'noisy and clean must both be (B, C, H, W); got {tuple(noisy.shape)} and '
                         f'{tuple(clean.shape)}.')
    a_all, b_all = [], []
    for c in range(noisy.shape[1]):
        x = clean[:, c].reshape(-1).double()
        r = (noisy[:, c] - clean[:, c]).reshape(-1).double()
        keep = (x > 1 / num_bins) & (x < 1 - 1 / num_bins)
        x, r = x[keep], r[keep]
        idx = (x * num_bins).long().clamp(0, num_bins - 1)
        count = torch.bincount(idx, minlength=num_bins).double()
        mean_x = torch.bincount(idx, x, minlength=num_bins) / count.clamp_min(1)
        mean_r = torch.bincount(idx, r, minlength=num_bins) / count.clamp_min(1)
        var = torch.bincount(idx, r * r, minlength=num_bins) / count.clamp_min(1) - mean_r**2
        std = var.clamp_min(0).sqrt()
        ok = (count >= min_count) & (mean_x - clip_sigmas * std > 0) & (mean_x + clip_sigmas * std < 1)
        if ok.sum() < 2:
            raise ValueError(f'Channel {c}: fewer than two unclipped intensity bins with {min_count} pixels; use more '
                             'images.')
        w = count[ok]
        design = torch.stack([mean_x[ok], torch.ones_like(mean_x[ok])], 1) * w.sqrt()[:, None]
        coef = torch.linalg.lstsq(design, (var[ok] * w.sqrt())[:, None]).solution[:, 0]
        a_all.append(coef[0])
        b_all.append(coef[1])
    return torch.stack(a_all).float(), torch.stack(b_all).float()
