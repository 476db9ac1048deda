"""How close generated noise is to real noise: AKLD (DANet) and the binned KS statistic (NoiseTransfer).

Each metric has a NumPy form registered in BasicSR's ``METRIC_REGISTRY`` (HWC images in [0, 255], float or uint8,
like ``calculate_psnr``; channel order does not matter) and a batched torch form for use inside models
(``(B, C, H, W)`` in [0, 1], optionally ``(L, B, C, H, W)`` generator samples averaged per image).
"""
import cv2
import numpy as np
import torch
from basicsr.utils.registry import METRIC_REGISTRY
from torch.nn import functional as F

# DANet builds its window with cv2.getGaussianKernel(7, sigma=-1). For sizes up to 7 and sigma <= 0 OpenCV returns
# a fixed table, [1, 3.5, 7, 9, 7, 3.5, 1] / 32, not the sampled Gaussian of sigma 1.4 its formula would give; the
# table is what DANet (and every paper reusing its code) measured with, so it is used here too.
AKLD_WINDOW = 7
AKLD_RATIO_RANGE = (0.1, 10.)
KS_BINS, KS_RANGE = 256, (-1., 1.)


def akld_window():
    """The 7x7 window of DANet's AKLD: the outer product of ``cv2.getGaussianKernel(7, -1)``, float64."""
    g = cv2.getGaussianKernel(AKLD_WINDOW, -1)
    window = g @ g.T
    return window / window.sum()


def _as_unit_hwc(img):
    img = np.asarray(img, dtype=np.float64)
    if img.ndim == 2:
        img = img[..., None]
    if img.ndim != 3:
        raise ValueError(f'Expected an HWC or HW image, got shape {img.shape}.')
    return img / 255.


def _check_shapes(*imgs):
    if len({img.shape for img in imgs}) != 1:
        raise ValueError(f'Images must have the same shape, got {[img.shape for img in imgs]}.')


def _kl_of_ratio(ratio):
    return 0.5 * (ratio - 1 - np.log(ratio))


@METRIC_REGISTRY.register()
def calculate_akld(img, img2, img_clean, **kwargs):
    """Average KL divergence between generated and real noise (Yue et al., DANet, ECCV 2020).

    As a ``val.metrics`` entry of a noise-generator model, ``img`` is the generated noisy image, ``img2`` (BasicSR's
    ground truth) the real noisy image and ``img_clean`` the model's ``clean`` visual.

    The local noise variance of each image is the 7x7 Gaussian-window average (:func:`akld_window`) of its squared noise
    ``(noisy - clean)^2`` (reflect padding, no mean subtracted); per pixel and channel the ratio
    ``r = var_fake / var_real`` is clamped to [0.1, 10] and ``KL(N(0, var_fake) || N(0, var_real)) =
    0.5 * (r - 1 - ln r)`` averaged. Noisy images are clipped to [0, 255] as stored images are.

    Args:
        img (ndarray): Generated noisy image, HWC (or HW) in [0, 255].
        img2 (ndarray): Real noisy image of the same scene.
        img_clean (ndarray): Clean image.

    Returns:
        float: AKLD; 0 for identical noise fields, 0.7013 for a noise-free fake (the clamp).
    """
    fake, real, clean = (_as_unit_hwc(x) for x in (img, img2, img_clean))
    _check_shapes(fake, real, clean)
    window = akld_window()
    ratios = []
    for c in range(clean.shape[2]):
        var = []
        for noisy in (fake, real):
            err = (np.clip(noisy[..., c], 0, 1) - clean[..., c])**2
            local = cv2.filter2D(err, cv2.CV_64F, window, borderType=cv2.BORDER_REFLECT_101)
            var.append(np.maximum(local, 1e-10))
        ratios.append(np.clip(var[0] / var[1], *AKLD_RATIO_RANGE))
    return float(np.mean(_kl_of_ratio(np.stack(ratios))))


def _histograms(values, xp):
    """Rows of noise values (N, M) to (N, 256) histograms with ``torch.histc`` semantics (equal bins on [-1, 1],
    the top edge in the last bin, values outside ignored), normalised by M (outside values included, as
    NoiseTransfer does)."""
    lo, hi = KS_RANGE
    idx = (values - lo) * (KS_BINS / (hi - lo))
    outside = (values < lo) | (values > hi)
    rows = values.shape[0]
    if xp is np:
        idx = np.where(outside, KS_BINS, np.minimum(np.floor(idx), KS_BINS - 1)).astype(np.int64)
        idx += (KS_BINS + 1) * np.arange(rows)[:, None]
        counts = np.bincount(idx.ravel(), minlength=rows * (KS_BINS + 1))
    else:
        idx = torch.where(outside, KS_BINS, idx.floor().clamp_max(KS_BINS - 1).long())
        idx = idx + (KS_BINS + 1) * torch.arange(rows, device=idx.device)[:, None]
        counts = torch.bincount(idx.flatten(), minlength=rows * (KS_BINS + 1)).double()
    return counts.reshape(rows, KS_BINS + 1)[:, :KS_BINS] / values.shape[1]


@METRIC_REGISTRY.register()
def calculate_ks(img, img2, img_clean, **kwargs):
    """Two-sample Kolmogorov-Smirnov statistic of binned noise values (as NoiseTransfer, Lee et al., 2023).

    Noise ``(noisy - clean) / 255`` over all pixels and channels, 256-bin histograms on [-1, 1], the largest
    difference of the cumulative histograms. 0 for identical noise distributions, 1 for disjoint ones.

    Args:
        img (ndarray): Generated noisy image, HWC (or HW) in [0, 255] (``val.metrics``: as :func:`calculate_akld`).
        img2 (ndarray): Real noisy image of the same scene.
        img_clean (ndarray): Clean image.

    Returns:
        float: KS statistic in [0, 1].
    """
    fake, real, clean = (_as_unit_hwc(x) for x in (img, img2, img_clean))
    _check_shapes(fake, real, clean)
    p, q = _histograms(np.stack([(fake - clean).ravel(), (real - clean).ravel()]), np)
    return float(np.abs(np.cumsum(p) - np.cumsum(q)).max())


# ----------------------------------------------------------------------------------------------- torch forms
def _samples(fake, clean):
    if fake.dim() == clean.dim():
        fake = fake[None]
    if fake.shape[1:] != clean.shape:
        raise ValueError(f'fake {tuple(fake.shape)} does not match clean {tuple(clean.shape)}.')
    return fake


def _local_variance(noisy, clean):
    window = torch.from_numpy(akld_window()).to(clean.device, torch.float64)
    c, pad = clean.shape[1], AKLD_WINDOW // 2
    err = (noisy.clamp(0, 1) - clean)**2
    err = F.pad(err, (pad, pad, pad, pad), mode='reflect')
    return F.conv2d(err, window.expand(c, 1, -1, -1), groups=c).clamp_min(1e-10)


def akld_torch(fake, real, clean):
    """Batched AKLD: ``fake`` (B, C, H, W) or (L, B, C, H, W) samples, ``real`` and ``clean`` (B, C, H, W), all in
    [0, 1]; returns (B,) float64, each the mean over the L samples of :func:`calculate_akld`."""
    fake = _samples(fake, clean).double()
    real, clean = real.double(), clean.double()
    var_real = _local_variance(real, clean)
    out = []
    for sample in fake:
        ratio = (_local_variance(sample, clean) / var_real).clamp(*AKLD_RATIO_RANGE)
        out.append((0.5 * (ratio - 1 - torch.log(ratio))).flatten(1).mean(1))
    return torch.stack(out).mean(0)


def ks_torch(fake, real, clean):
    """Batched KS: shapes as :func:`akld_torch`; returns (B,) float64, averaged over the L samples."""
    fake = _samples(fake, clean).double()
    real, clean = real.double(), clean.double()
    b = clean.shape[0]
    cdf_fake = torch.cumsum(_histograms((fake - clean).flatten(2).flatten(0, 1), torch), 1)
    cdf_real = torch.cumsum(_histograms((real - clean).flatten(1), torch), 1)
    return (cdf_fake.reshape(-1, b, KS_BINS) - cdf_real).abs().amax(-1).mean(0)
