import torch
from basicsr.utils.registry import ARCH_REGISTRY
from torch import nn as nn
from torch.nn import functional as F


class CentreMaskedConv2d(nn.Conv2d):
    """A k x k convolution whose centre tap is always zero: no output pixel sees its own input pixel."""

    def __init__(self, in_channels, out_channels, kernel_size):
        super().__init__(in_channels, out_channels, kernel_size, padding=kernel_size // 2)
        mask = torch.ones(1, 1, kernel_size, kernel_size)
        mask[..., kernel_size // 2, kernel_size // 2] = 0
        self.register_buffer('mask', mask, persistent=False)

    def forward(self, x):
        return F.conv2d(x, self.weight * self.mask, self.bias, padding=self.padding)


def conv1x1(in_ch, out_ch, relu=True):
    layers = [nn.Conv2d(in_ch, out_ch, 1)]
    return nn.Sequential(*layers, nn.ReLU(inplace=True)) if relu else layers[0]


class DilatedInceptionBlock(nn.Module):
    """Three parallel paths (1x1 -> dilated 5x5, 1x1 -> dilated 3x3, 1x1), fused by 1x1, residual, two 1x1."""

    def __init__(self, channels, dilation):
        super().__init__()
        self.path5 = nn.Sequential(
            conv1x1(channels, channels), nn.Conv2d(channels, channels, 5, padding=2 * dilation, dilation=dilation),
            nn.ReLU(inplace=True))
        self.path3 = nn.Sequential(
            conv1x1(channels, channels), nn.Conv2d(channels, channels, 3, padding=dilation, dilation=dilation),
            nn.ReLU(inplace=True))
        self.path1 = conv1x1(channels, channels)
        self.fuse = conv1x1(3 * channels, channels)
        self.post = nn.Sequential(conv1x1(channels, channels), conv1x1(channels, channels))

    def forward(self, x):
        out = self.fuse(torch.cat([self.path5(x), self.path3(x), self.path1(x)], 1))
        return self.post(out + x)


class BlindSpotBranch(nn.Module):
    """Centre-masked k x k conv, two 1x1, ``num_blocks`` inception blocks dilated by ``(k + 1) / 2``, 1x1.

    With every later spatial tap at a multiple of the dilation ``d > (k - 1) / 2``, an offset inside the first
    k x k window plus multiples of ``d`` never returns to the centre: the blind spot survives the whole branch.
    """

    def __init__(self, channels, kernel_size, num_blocks):
        super().__init__()
        dilation = (kernel_size + 1) // 2
        self.body = nn.Sequential(
            CentreMaskedConv2d(channels, channels, kernel_size), nn.ReLU(inplace=True), conv1x1(channels, channels),
            conv1x1(channels, channels), *[DilatedInceptionBlock(channels, dilation) for _ in range(num_blocks)],
            conv1x1(channels, channels, relu=False))

    def forward(self, x):
        return self.body(x)


@ARCH_REGISTRY.register()
class DBSNNet(nn.Module):
    """D-BSN, the dilated blind-spot network of Unpaired Learning of Deep Image Denoising (Wu et al., ECCV 2020).

    A 1x1 head, two branches (centre-masked 3x3 then inception blocks dilated by 2; centre-masked 5x5 then
    dilation 3), a 1x1 fusion giving the feature ``f`` that the sigma_mu head reads, and a 1x1 tail giving ``mu``.
    Every spatial position is processed without its own input pixel; no normalisation (it would mix positions).

    Args:
        num_in_ch (int): Input channels (1 grey, 3 colour). Default: 1.
        num_out_ch (int): Output channels. Default: ``num_in_ch``.
        num_feat (int): Feature channels. Default: 96.
        num_blocks (int): Inception blocks per branch. Default: 8.
        return_feature (bool): Return ``(mu, f)`` instead of ``mu``. Default: False.
    """

    def __init__(self, num_in_ch=1, num_out_ch=None, num_feat=96, num_blocks=8, return_feature=False):
        super().__init__()
        num_out_ch = num_in_ch if num_out_ch is None else num_out_ch
        self.head = conv1x1(num_in_ch, num_feat)
        self.branch3 = BlindSpotBranch(num_feat, 3, num_blocks)
        self.branch5 = BlindSpotBranch(num_feat, 5, num_blocks)
        self.fuse = conv1x1(2 * num_feat, num_feat, relu=False)
        self.tail = nn.Sequential(
            conv1x1(num_feat, num_feat), conv1x1(num_feat, num_feat), conv1x1(num_feat, num_out_ch, relu=False))
        self.return_feature = return_feature
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode='fan_in', nonlinearity='relu')
                nn.init.zeros_(m.bias)

    def forward(self, x):
        feat = self.head(x)
        feat = self.fuse(torch.cat([self.branch3(feat), self.branch5(feat)], 1))
        mu = self.tail(feat)
        return (mu, feat) if self.return_feature else mu


def pixel_mlp(in_ch, mid_ch, out_ch, num_layers):
    """``num_layers`` 1x1 convolutions with ReLU between them (a per-pixel MLP)."""
    layers, ch = [], in_ch
    for _ in range(num_layers - 1):
        layers += [nn.Conv2d(ch, mid_ch, 1), nn.ReLU(inplace=True)]
        ch = mid_ch
    return nn.Sequential(*layers, nn.Conv2d(ch, out_ch, 1))


@ARCH_REGISTRY.register()
class DBSNSigmaMuNet(nn.Module):
    """The sigma_mu head of DBSN (Wu et al., ECCV 2020): a per-pixel 3-layer MLP on the D-BSN feature.

    Outputs ``num_out`` values per pixel: 1 (grey standard deviation), 3 (diagonal colour covariance factor) or 6
    (upper-triangular factor ``L`` of a full 3x3 covariance ``L L^T``).

    Args:
        num_feat (int): D-BSN feature channels. Default: 96.
        num_mid (int): Hidden width (16 grey AWGN, 32 otherwise). Default: 16.
        num_out (int): 1, 3 or 6. Default: 1.
    """

    def __init__(self, num_feat=96, num_mid=16, num_out=1):
        super().__init__()
        if num_out not in (1, 3, 6):
            raise ValueError(f'DBSNSigmaMuNet: num_out must be 1, 3 or 6, got {num_out}.')
        self.body = pixel_mlp(num_feat, num_mid, num_out, 3)

    def forward(self, feat):
        return self.body(feat)


@ARCH_REGISTRY.register()
class DBSNNoiseEstimator(nn.Module):
    """CNN_est, DBSN's noise estimator (Wu et al., ECCV 2020): five 1x1 convolutions.

    Reads the noisy image (AWGN, multivariate) or the D-BSN output (signal-dependent noise) and returns
    ``num_out`` raw values per pixel; the model turns them into a covariance. The last layer starts at zero in
    the grey networks of the official code (``zero_init_last``), and the official grey network adds a constant
    ``3e-4`` to its output (``output_offset``; the colour network adds nothing), so that its state dicts run
    exactly here.

    Args:
        num_in_ch (int): 1 or 3. Default: 1.
        num_mid (int): Hidden width. Default: 16.
        num_out (int): 1, 3 or 6. Default: 1.
        zero_init_last (bool): Zero the last layer. Default: True.
        output_offset (float): Constant added to the output (official grey: 3e-4). Default: 0.
    """

    def __init__(self, num_in_ch=1, num_mid=16, num_out=1, zero_init_last=True, output_offset=0.):
        super().__init__()
        self.body = pixel_mlp(num_in_ch, num_mid, num_out, 5)
        self.output_offset = float(output_offset)
        if zero_init_last:
            nn.init.zeros_(self.body[-1].weight)
            nn.init.zeros_(self.body[-1].bias)

    def forward(self, x):
        out = self.body(x)
        return out + self.output_offset if self.output_offset else out
