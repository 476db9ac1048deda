"""PNGAN's generator (SMNet) and discriminators (Cai et al., *Learning to Generate Realistic Noisy Images via
Pixel-level Noise-aware Adversarial Training*, NeurIPS 2021).

The authors released neither the training code nor the generator weights; what their repository holds is two
compiled caches, read for the layer sizes (docs/pngan.md, "The networks").
"""
import torch
from basicsr.utils.registry import ARCH_REGISTRY
from torch import nn
from torch.nn import functional as F

SMNET_VARIANTS = ('multiscale', 'released')


def _pad_to_multiple(x, multiple):
    """Reflect-pad (replicate when too small) ``(..., H, W)`` at the bottom/right to multiples of ``multiple``.

    Kept in this file (also in ntgan_arch.py) so that the file moves into BasicSR's archs unchanged.
    """
    ph, pw = (-x.shape[-2]) % multiple, (-x.shape[-1]) % multiple
    if ph == 0 and pw == 0:
        return x
    mode = 'reflect' if min(x.shape[-2:]) > max(ph, pw) else 'replicate'
    return F.pad(x, (0, pw, 0, ph), mode=mode)


def _conv(in_ch, out_ch, kernel=3, bias=False):
    return nn.Conv2d(in_ch, out_ch, kernel, padding=kernel // 2, bias=bias)


class PNGANEfficientChannelAttention(nn.Module):
    """ECA with the release's extra identity: ``x * g + x``, ``g = sigmoid(conv1d_c(GAP(x)))`` over the channels."""

    def __init__(self, kernel=5):
        super().__init__()
        self.conv = nn.Conv1d(1, 1, kernel, padding=kernel // 2, bias=False)

    def forward(self, x):
        gate = torch.sigmoid(self.conv(F.adaptive_avg_pool2d(x, 1).flatten(2).transpose(1, 2)))
        return x * gate.transpose(1, 2).unsqueeze(-1) + x


class PNGANChannelAttentionUnit(nn.Module):
    """The CAU: ``x + conv1x1(ECA(conv(PReLU(conv(x)))))``.

    Args:
        num_feat (int): Channels.
        act (callable | None): The activation between the two convolutions; None makes the unit's own PReLU. The
            released network passes one PReLU shared by every unit (held by the network, not registered here).
    """

    def __init__(self, num_feat, act=None, eca_kernel=5):
        super().__init__()
        self.conv1, self.conv2 = _conv(num_feat, num_feat), _conv(num_feat, num_feat)
        if act is None:
            self.act = nn.PReLU()
        else:
            self._shared_act = (act, )  # a tuple: not a submodule, so the shared parameter is stored once
        self.attention = PNGANEfficientChannelAttention(eca_kernel)
        self.proj = _conv(num_feat, num_feat, 1)

    def forward(self, x):
        act = self.act if hasattr(self, 'act') else self._shared_act[0]
        return x + self.proj(self.attention(self.conv2(act(self.conv1(x)))))


class PNGANBlurPool(nn.Module):
    """Anti-aliased stride-2 downsampling: the [1, 2, 1] x [1, 2, 1] / 16 filter, reflect padding, per channel."""

    def __init__(self):
        super().__init__()
        taps = torch.tensor([1., 2., 1.])
        self.register_buffer('kernel', (taps[:, None] * taps[None, :] / 16.)[None, None], persistent=False)

    def forward(self, x):
        kernel = self.kernel.to(x.dtype).expand(x.shape[1], 1, 3, 3)
        return F.conv2d(F.pad(x, (1, 1, 1, 1), mode='reflect'), kernel, stride=2, groups=x.shape[1])


class PNGANMultiScaleBlock(nn.Module):
    """The paper's multi-scale attention block: CAU branches at 1, 1/2 and 1/4 resolution (blur-pool down, bilinear
    up and a 3x3 convolution), concatenated, fused by a 3x3 convolution, plus the block input."""

    def __init__(self, num_feat, eca_kernel=5):
        super().__init__()
        self.down = PNGANBlurPool()
        self.branches = nn.ModuleList([PNGANChannelAttentionUnit(num_feat, eca_kernel=eca_kernel) for _ in range(3)])
        self.up = nn.ModuleList([_conv(num_feat, num_feat) for _ in range(2)])
        self.fuse = _conv(3 * num_feat, num_feat)

    def forward(self, x):
        half = self.down(x)
        quarter = self.down(half)
        full = self.branches[0](x)
        outs = [full]
        for branch, up, feat in zip(self.branches[1:], self.up, (half, quarter)):
            outs.append(up(F.interpolate(branch(feat), size=x.shape[-2:], mode='bilinear', align_corners=False)))
        return x + self.fuse(torch.cat(outs, 1))


class PNGANReleasedBlock(nn.Module):
    """The release's MSRB at its default ``height=1, width=2``: one CAU applied twice (the release builds its list
    from one module, so the two share weights), a 3x3 convolution and the block input. No other scale runs."""

    def __init__(self, num_feat, act, width=2, eca_kernel=5):
        super().__init__()
        self.unit = PNGANChannelAttentionUnit(num_feat, act=act, eca_kernel=eca_kernel)
        self.width = width
        self.conv = _conv(num_feat, num_feat)

    def forward(self, x):
        y = x
        for _ in range(self.width):
            y = self.unit(y)
        return x + self.conv(y)


class PNGANResidualGroup(nn.Module):
    """Blocks, a 3x3 convolution and the group input."""

    def __init__(self, blocks, num_feat):
        super().__init__()
        self.blocks = nn.Sequential(*blocks)
        self.conv = _conv(num_feat, num_feat)

    def forward(self, x):
        return x + self.conv(self.blocks(x))


@ARCH_REGISTRY.register()
class SMNet(nn.Module):
    """PNGAN's generator SMNet (Cai et al., *Learning to Generate Realistic Noisy Images via Pixel-level
    Noise-aware Adversarial Training*, NeurIPS 2021): the synthetic noisy image in, the realistic noisy image out,
    ``x + conv_out(groups(conv_in(x)))``; all convolutions bias-free.

    Args:
        num_in_ch (int): Image channels. Default: 3.
        num_feat (int): Features. Default: 64.
        num_groups (int): Residual groups. Default: 3.
        num_blocks (int): Blocks per group. Default: 2.
        variant (str): ``multiscale`` (default): the paper's multi-scale design, branches at 1, 1/2 and 1/4
            resolution with channel attention, fused (inputs are padded to multiples of 4 and the output cropped).
            ``released``: the network of the authors' compiled cache, effectively single-scale (MIRNet's MSRB at
            height 1 without its fusion), 802,207 parameters at the defaults, with its quirks: one PReLU parameter
            shared by every unit and the two units of each block sharing their weights.
        eca_kernel (int): Kernel of the channel-attention 1-D convolution. Default: 5 (the release's).
    """

    def __init__(self, num_in_ch=3, num_feat=64, num_groups=3, num_blocks=2, variant='multiscale', eca_kernel=5):
        super().__init__()
        if variant not in SMNET_VARIANTS:
            raise ValueError(f'SMNet variant must be one of {SMNET_VARIANTS}, got {variant!r}.')
        self.variant = variant
        self.conv_in = _conv(num_in_ch, num_feat)
        if variant == 'released':
            self.shared_act = nn.PReLU()

            def block():
                return PNGANReleasedBlock(num_feat, self.shared_act, eca_kernel=eca_kernel)
        else:

            def block():
                return PNGANMultiScaleBlock(num_feat, eca_kernel=eca_kernel)

        self.groups = nn.Sequential(
            *[PNGANResidualGroup([block() for _ in range(num_blocks)], num_feat) for _ in range(num_groups)])
        self.conv_out = _conv(num_feat, num_in_ch)

    def forward(self, x):
        h, w = x.shape[-2:]
        x_in = _pad_to_multiple(x, 4) if self.variant == 'multiscale' else x
        out = x_in + self.conv_out(self.groups(self.conv_in(x_in)))
        return out[..., :h, :w]


@ARCH_REGISTRY.register()
class PNGANDenseDiscriminator(nn.Module):
    """PNGAN's pixel-level discriminator (Cai et al., NeurIPS 2021): no stride and no pooling, so one score per
    pixel (a 7x7 receptive field): conv3x3 64, LReLU, conv3x3 128, BatchNorm, LReLU, conv3x3 256, LReLU, conv1x1 1.
    371,329 parameters at 64 features.

    Returns the logits ``(B, 1, H, W)`` (the relativistic loss works on them); the release's forward returns their
    sigmoid, which :meth:`probability` gives.
    """

    def __init__(self, num_in_ch=3, num_feat=64):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(num_in_ch, num_feat, 3, padding=1), nn.LeakyReLU(0.2, True),
            nn.Conv2d(num_feat, 2 * num_feat, 3, padding=1), nn.BatchNorm2d(2 * num_feat), nn.LeakyReLU(0.2, True),
            nn.Conv2d(2 * num_feat, 4 * num_feat, 3, padding=1), nn.LeakyReLU(0.2, True),
            nn.Conv2d(4 * num_feat, 1, 1))

    def forward(self, x):
        return self.body(x)

    def probability(self, x):
        return torch.sigmoid(self.body(x))


@ARCH_REGISTRY.register()
class PNGANImageDiscriminator(nn.Module):
    """PNGAN's image-level discriminator, for the paper's ablation (Cai et al., NeurIPS 2021): SRGAN-like, eight
    3x3 convolutions 64-64-128-128-256-256-512-512 (stride 2 on every second, BatchNorm on all but the first,
    LReLU 0.2), global average pooling, 1x1 to 1024, LReLU, 1x1 to 1. Returns one logit per image ``(B, 1, 1, 1)``.
    """

    def __init__(self, num_in_ch=3, num_feat=64):
        super().__init__()
        layers, in_ch = [], num_in_ch
        for i, mult in enumerate((1, 1, 2, 2, 4, 4, 8, 8)):
            out_ch = num_feat * mult
            layers.append(nn.Conv2d(in_ch, out_ch, 3, stride=1 + i % 2, padding=1))
            if i:
                layers.append(nn.BatchNorm2d(out_ch))
            layers.append(nn.LeakyReLU(0.2, True))
            in_ch = out_ch
        self.features = nn.Sequential(*layers)
        self.head = nn.Sequential(
            nn.AdaptiveAvgPool2d(1), nn.Conv2d(in_ch, 16 * num_feat, 1), nn.LeakyReLU(0.2, True),
            nn.Conv2d(16 * num_feat, 1, 1))

    def forward(self, x):
        return self.head(self.features(x))
