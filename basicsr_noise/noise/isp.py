"""A differentiable, batched camera pipeline: sRGB -> camera raw (unprocess) and back (process).

After Brooks, Mildenhall, Xue, Chen, Sharlet and Barron, *Unprocessing Images for Learned Raw Denoising*
(CVPR 2019): inverse tone curve, inverse gamma, sRGB -> camera colour matrix (a random convex combination of four
calibrated XYZ -> camera matrices), inverse white balance and digital gain with highlight protection.
:func:`process` applies the inverse steps, so ``process(unprocess(x))`` returns ``x`` wherever the highlight
protection and clipping are inactive (mean intensity below 0.9 after the inverse tone and gamma curves).
"""
import torch

from .registry import check_range, sample_uniform

# XYZ -> camera matrices of four cameras (Brooks et al., unprocess.py), rows
XYZ2CAMS = (
    ((1.0234, -0.2969, -0.2266), (-0.5625, 1.6328, -0.0469), (-0.0703, 0.2188, 0.6406)),
    ((0.4913, -0.0541, -0.0202), (-0.613, 1.3513, 0.2906), (-0.1564, 0.2151, 0.7183)),
    ((0.838, -0.263, -0.0639), (-0.2887, 1.0725, 0.2496), (-0.0627, 0.1427, 0.5438)),
    ((0.6596, -0.2079, -0.0562), (-0.4782, 1.3016, 0.1933), (-0.097, 0.1581, 0.5181)),
)
RGB2XYZ = ((0.4124564, 0.3575761, 0.1804375), (0.2126729, 0.7151522, 0.0721750), (0.0193339, 0.1191920, 0.9503041))
HIGHLIGHT_KNEE = 0.9


def random_rgb2cam(batch, generator=None, device=None):
    """Random sRGB -> camera matrices ``(B, 3, 3)``, rows normalised to sum 1 (white stays white)."""
    xyz2cams = torch.tensor(XYZ2CAMS, dtype=torch.float64, device=device)
    weights = torch.rand(batch, len(XYZ2CAMS), generator=generator, device=device, dtype=torch.float64)
    weights = weights / weights.sum(1, keepdim=True)
    xyz2cam = torch.einsum('bk,kij->bij', weights, xyz2cams)
    rgb2cam = xyz2cam @ torch.tensor(RGB2XYZ, dtype=torch.float64, device=device)
    return rgb2cam / rgb2cam.sum(-1, keepdim=True)


def random_isp_params(batch, generator=None, device=None, red_gain=(1.9, 2.4), blue_gain=(1.5, 1.9),
                      rgb_gain_mean=0.8, rgb_gain_std=0.1):
    """Per-sample camera parameters with Brooks et al.'s distributions.

    Returns:
        dict: ``rgb2cam`` (B, 3, 3), ``red_gain``, ``blue_gain``, ``rgb_gain`` (B,), float64.
    """
    red_gain, blue_gain = check_range(red_gain, 'red_gain'), check_range(blue_gain, 'blue_gain')
    noise = torch.randn(batch, generator=generator, device=device, dtype=torch.float64)
    inv_rgb_gain = rgb_gain_mean + rgb_gain_std * noise
    return {
        'rgb2cam': random_rgb2cam(batch, generator, device),
        'red_gain': sample_uniform(red_gain, batch, generator, device),
        'blue_gain': sample_uniform(blue_gain, batch, generator, device),
        'rgb_gain': 1.0 / inv_rgb_gain.clamp_min(0.1),
    }


def _gains(params, dtype):
    """White balance and digital gain per channel, ``(B, 3, 1, 1)``."""
    ones = torch.ones_like(params['red_gain'])
    gains = torch.stack([params['red_gain'], ones, params['blue_gain']], 1) * params['rgb_gain'][:, None]
    return gains.to(dtype)[..., None, None]


def _apply_matrix(x, matrix):
    return torch.einsum('bij,bjhw->bihw', matrix.to(x.dtype), x)


def inverse_tone(y):
    """Inverse of the smoothstep tone curve ``3y^2 - 2y^3``."""
    return y.clamp(0, 1).mul_(-2.0).add_(1.0).asin_().div_(3.0).sin_().neg_().add_(0.5)


def power_(x, exponent):
    """``x ** exponent`` in place, for positive ``x``, as ``exp(exponent * log(x))``.

    On CPU, torch's vectorised float32 ``pow`` (accurate to 1 ulp) costs a third more than ``log`` and ``exp``
    together; this form stays within 7.4e-8 absolute and 4.8e-6 relative error on [1e-8, 1] in float32.
    """
    return x.log_().mul_(exponent).exp_()


def tone(x):
    """The smoothstep tone curve ``3x^2 - 2x^3``."""
    x = x.clamp(0, 1)
    return x.mul(-2.0).add_(3.0).mul_(x).mul_(x)


# The steps below run in place on tensors they have just made: with 3-megabyte temporaries, each fresh allocation
# costs as much as the arithmetic on CPU. Autograd stays correct (checked by gradcheck in tests/test_isp.py).


def unprocess(rgb, params):
    """sRGB ``(B, 3, H, W)`` in [0, 1] to linear camera RGB in [0, 1] (before mosaicing)."""
    x = _apply_matrix(power_(inverse_tone(rgb).clamp_min_(1e-8), 2.2), params['rgb2cam'])
    return apply_inverse_gains(x, x.mean(1, keepdim=True), 1.0 / _gains(params, x.dtype))


def apply_inverse_gains(x, grey, inverse_gains):
    """Inverse white balance and digital gain with highlight protection, clipped to [0, 1].

    The inverse gain fades to 1 as the mean intensity ``grey`` goes from the knee to 1, and never exceeds the plain
    inverse gain: ``max(mask + (1 - mask) g, g) = g + mask max(1 - g, 0)``. ``x`` and ``inverse_gains`` are all
    channels ``(B, 3, H, W)`` and ``(B, 3, 1, 1)``, or one channel and its gain.
    """
    mask = grey.sub(HIGHLIGHT_KNEE).clamp_min_(0).div_(1.0 - HIGHLIGHT_KNEE).square_()
    return (x * mask).mul_((1.0 - inverse_gains).clamp_min(0)).addcmul_(x, inverse_gains).clamp_(0, 1)


def process(linear, params, apply_tone=True):
    """Linear camera RGB ``(B, 3, H, W)`` back to sRGB: gains, camera -> sRGB matrix, gamma, tone curve."""
    x = (linear * _gains(params, linear.dtype)).clamp_(0, 1)
    x = power_(_apply_matrix(x, torch.linalg.inv(params['rgb2cam'])).clamp_(1e-8, 1), 1 / 2.2)
    return tone(x) if apply_tone else x
