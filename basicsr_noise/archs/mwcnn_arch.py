import torch
from basicsr.utils.registry import ARCH_REGISTRY
from torch import nn as nn
from torch.nn import functional as F


def haar_dwt(x):
    """Orthonormal 2-D Haar transform: ``(B, C, H, W)`` to ``(B, 4C, H/2, W/2)``, sub-bands LL, HL, LH, HH."""
    if x.shape[-2] % 2 or x.shape[-1] % 2:
        raise ValueError(f'haar_dwt needs even height and width, got {tuple(x.shape[-2:])}.')
    a, b = x[..., 0::2, 0::2], x[..., 1::2, 0::2]  # top-left, bottom-left
    c, d = x[..., 0::2, 1::2], x[..., 1::2, 1::2]  # top-right, bottom-right
    return torch.cat([a + b + c + d, -a - b + c + d, -a + b - c + d, a - b - c + d], 1) / 2


def haar_iwt(y):
    """Inverse of :func:`haar_dwt`."""
    ll, hl, lh, hh = y.chunk(4, dim=1)
    x = y.new_empty(ll.shape[0], ll.shape[1], ll.shape[2] * 2, ll.shape[3] * 2)
    x[..., 0::2, 0::2] = (ll - hl - lh + hh) / 2
    x[..., 1::2, 0::2] = (ll - hl + lh - hh) / 2
    x[..., 0::2, 1::2] = (ll + hl - lh - hh) / 2
    x[..., 1::2, 1::2] = (ll + hl + lh + hh) / 2
    return x


def conv_stack(in_ch, mid_ch, out_ch, num_convs):
    """``num_convs`` 3x3 convolutions with ReLU: ``in -> mid -> ... -> mid -> out``."""
    layers, ch = [], in_ch
    for i in range(num_convs):
        nxt = out_ch if i == num_convs - 1 else mid_ch
        layers += [nn.Conv2d(ch, nxt, 3, padding=1), nn.ReLU(inplace=True)]
        ch = nxt
    return nn.Sequential(*layers)


@ARCH_REGISTRY.register()
class MWCNN(nn.Module):
    """Multi-level Wavelet-CNN for Image Restoration (Liu et al., CVPRW 2018), as DBSN distils into it.

    Three Haar levels; per level four 3x3 convolutions (160 features at 1/2 resolution, 256 below), decoder
    features added to the encoder's wavelet features before each inverse transform, and a global residual in the
    wavelet domain. 16,145,892 trainable parameters (grey); the official code also counts its 32 fixed Haar filter
    values. Inputs whose height or width is not a multiple of 8 are reflect-padded and the output cropped back.

    Args:
        num_in_ch (int): Image channels. Default: 1.
        feats (tuple): Features at the three levels. Default: (160, 256, 256).
    """

    def __init__(self, num_in_ch=1, feats=(160, 256, 256)):
        super().__init__()
        c, (f1, f2, f3) = num_in_ch, feats
        self.enc1 = conv_stack(4 * c, f1, f1, 4)
        self.enc2 = conv_stack(4 * f1, f2, f2, 4)
        self.enc3 = conv_stack(4 * f2, f3, f3, 4)
        self.dec3 = conv_stack(f3, f3, 4 * f2, 4)
        self.dec2 = conv_stack(f2, f2, 4 * f1, 4)
        self.dec1 = nn.Sequential(*conv_stack(f1, f1, f1, 3), nn.Conv2d(f1, 4 * c, 3, padding=1))
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.orthogonal_(m.weight)
                nn.init.zeros_(m.bias)

    def forward(self, x):
        h, w = x.shape[-2:]
        if h % 8 or w % 8:
            return self.forward(F.pad(x, (0, -w % 8, 0, -h % 8), mode='reflect'))[..., :h, :w]
        w1 = haar_dwt(x)
        e1 = self.enc1(w1)
        w2 = haar_dwt(e1)
        e2 = self.enc2(w2)
        w3 = haar_dwt(e2)
        e3 = self.enc3(w3)
        d2 = self.dec2(haar_iwt(self.dec3(e3) + w3))
        d1 = self.dec1(haar_iwt(d2 + w2))
        return haar_iwt(d1 + w1)
