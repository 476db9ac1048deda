"""Helpers shared by the archs (BasicSR keeps its own in ``basicsr/archs/arch_util.py``)."""
from torch.nn import functional as F


def pad_to_multiple(x, multiple):
    """Pad ``(..., H, W)`` at the bottom and right to multiples of ``multiple`` (reflect, or replicate when the
    image is too small to reflect); the caller crops the output back to ``H x W``."""
    ph, pw = (-x.shape[-2]) % multiple, (-x.shape[-1]) % multiple
    if ph == 0 and pw == 0:
        return x
    mode = 'reflect' if min(x.shape[-2:]) > max(ph, pw) else 'replicate'
    return F.pad(x, (0, pw, 0, ph), mode=mode)
