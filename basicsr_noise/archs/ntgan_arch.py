import torch
from basicsr.utils.registry import ARCH_REGISTRY
from torch import nn
from torch.nn import functional as F

# The DIV2K RGB mean of the release's mean shift.
RGB_MEAN = (0.4488, 0.4371, 0.4040)
BLOCK_ORDERS = ('released', 'sequential')


def _pad_to_multiple(x, multiple):
    """Reflect-pad (replicate when too small) ``(..., H, W)`` at the bottom/right to multiples of ``multiple``.

    Kept in this file (also in pngan_arch.py) so that the file moves into BasicSR's archs unchanged.
    """
    ph, pw = (-x.shape[-2]) % multiple, (-x.shape[-1]) % multiple
    if ph == 0 and pw == 0:
        return x
    mode = 'reflect' if min(x.shape[-2:]) > max(ph, pw) else 'replicate'
    return F.pad(x, (0, pw, 0, ph), mode=mode)


def _conv(in_ch, out_ch, kernel=3):
    return nn.Conv2d(in_ch, out_ch, kernel, padding=kernel // 2)


def _mean_shift(sign):
    """A 1x1 convolution initialised to ``x + sign * mean`` (a parameter in the release, where it is not frozen)."""
    conv = nn.Conv2d(3, 3, 1)
    with torch.no_grad():
        conv.weight.copy_(torch.eye(3).view(3, 3, 1, 1))
        conv.bias.copy_(sign * torch.tensor(RGB_MEAN))
    return conv


class NTGANResidualBlock(nn.Module):
    """conv-PReLU-conv plus the input, then PReLU (the activation after the addition)."""

    def __init__(self, num_feat):
        super().__init__()
        self.conv1, self.act1, self.conv2 = _conv(num_feat, num_feat), nn.PReLU(num_feat), _conv(num_feat, num_feat)
        self.act = nn.PReLU(num_feat)

    def forward(self, x):
        return self.act(x + self.conv2(self.act1(self.conv1(x))))


class NTGANSpatialAttention(nn.Module):
    """``sigmoid(conv1x1([mean_c(x); max_c(x)])) * conv1x1(x) + x``."""

    def __init__(self, num_feat, num_mid=2):
        super().__init__()
        self.gate = nn.Conv2d(num_mid, 1, 1)
        self.proj = nn.Conv2d(num_feat, num_feat, 1)

    def forward(self, x):
        pooled = torch.cat([x.mean(1, keepdim=True), x.amax(1, keepdim=True)], 1)
        return torch.sigmoid(self.gate(pooled)) * self.proj(x) + x


class NTGANChannelAttention(nn.Module):
    """``x * sigmoid(conv1x1(PReLU(conv3x3(GAP(x)))))`` (a 3x3 convolution on a 1x1 map: only its centre acts)."""

    def __init__(self, num_feat, num_mid=4):
        super().__init__()
        self.squeeze, self.squeeze_act = _conv(num_feat, num_mid), nn.PReLU(num_mid)
        self.excite = nn.Conv2d(num_mid, num_feat, 1)

    def forward(self, x):
        v = F.adaptive_avg_pool2d(x, 1)
        return x * torch.sigmoid(self.excite(self.squeeze_act(self.squeeze(v))))


class NTGANBlock(nn.Module):
    """The noise-transference block: ``x + CA(RB(RB(SA(RB(RB(x))))))``."""

    def __init__(self, num_feat, sa_ch=2, ca_ch=4):
        super().__init__()
        self.body = nn.Sequential(
            NTGANResidualBlock(num_feat), NTGANResidualBlock(num_feat), NTGANSpatialAttention(num_feat, sa_ch),
            NTGANResidualBlock(num_feat), NTGANResidualBlock(num_feat), NTGANChannelAttention(num_feat, ca_ch))

    def forward(self, x):
        return x + self.body(x)


@ARCH_REGISTRY.register()
class NTGANNet(nn.Module):
    """The noise-transference network of NTGAN (Zhao, Lun and Lam, *Learning Blind Image Denoising without Clean
    Reference*, BMVC 2020), layer for layer as released.

    ``forward(x, nlm)`` transfers the noise of ``x`` to the level of the noise-level map ``nlm`` (a per-pixel
    standard deviation): ``h + x + nlm * eps`` with ``eps ~ N(0, I)`` drawn inside the network; ``h`` comes from
    the mean-shifted image (head, four noise-transference blocks, a long skip) and the noise-level branch fed with
    ``nlm * eps``. Denoising is the transference to level zero: :meth:`denoise` runs ``nlm = 0``.

    Args:
        num_in_ch (int): Image channels. Default: 3.
        num_feat (int): Features of the trunk; the noise-level branch has 1, 2 and 4 times as many. Default: 64.
        sa_ch (int): Inputs of the spatial-attention gate (channel mean and max). Default: 2.
        ca_ch (int): Bottleneck of the channel attention. Default: 4.
        block_order (str): ``released`` applies NTB1, NTB2, NTB3, NTB3, as the published code and weights do
            (NTB4 is built, so that the published state dict loads, but never used, and frozen so that it takes no
            optimizer state and no DDP gradient); ``sequential`` applies NTB1 to NTB4, the paper's figure.
            Default: released.
        freeze_mean_shift (bool): Keep the two mean-shift convolutions fixed in training (the release means to,
            but its flag does not freeze them). Default: True.
        identity_init (bool): Initialise the tail's last convolution so that the untrained network is the identity
            (``h = 0``: zero weights, the bias cancelling the output mean shift), a residual network's usual start
            for training from scratch. Loading weights overrides it. Default: True.

    Sizes that are not multiples of 4 (two 2x poolings, then a 4x transposed convolution) are padded and the output
    cropped back.
    """

    def __init__(self, num_in_ch=3, num_feat=64, sa_ch=2, ca_ch=4, block_order='released', freeze_mean_shift=True,
                 identity_init=True):
        super().__init__()
        if num_in_ch != 3:
            raise ValueError(f'NTGANNet works on RGB images (its mean shift is the RGB mean), got num_in_ch '
                             f'{num_in_ch}.')
        if block_order not in BLOCK_ORDERS:
            raise ValueError(f'NTGANNet.block_order must be one of {BLOCK_ORDERS}, got {block_order!r}.')
        self.block_order = block_order
        self.mean_shift_in, self.mean_shift_out = _mean_shift(-1), _mean_shift(1)
        self.mean_shift_in.requires_grad_(not freeze_mean_shift)
        self.mean_shift_out.requires_grad_(not freeze_mean_shift)
        self.head = nn.Sequential(_conv(num_in_ch, num_feat), nn.PReLU(num_feat))
        self.blocks = nn.ModuleList(NTGANBlock(num_feat, sa_ch, ca_ch) for _ in range(4))
        if block_order == 'released':
            self.blocks[3].requires_grad_(False)
        f1, f2, f4 = num_feat, 2 * num_feat, 4 * num_feat
        self.noise_branch = nn.Sequential(
            _conv(num_in_ch, f1), nn.PReLU(f1), _conv(f1, f1), nn.PReLU(f1), nn.AvgPool2d(2),
            _conv(f1, f2), nn.PReLU(f2), _conv(f2, f2), nn.PReLU(f2), _conv(f2, f2), nn.PReLU(f2), nn.AvgPool2d(2),
            _conv(f2, f4), nn.PReLU(f4), _conv(f4, f4), nn.PReLU(f4), _conv(f4, f4), nn.PReLU(f4),
            nn.ConvTranspose2d(f4, f1, 4, stride=4))
        self.tail = nn.Sequential(
            _conv(2 * num_feat, num_feat), nn.PReLU(num_feat), _conv(num_feat, num_feat), nn.PReLU(num_feat),
            _conv(num_feat, num_feat), nn.PReLU(num_feat), _conv(num_feat, num_in_ch))
        if identity_init:
            with torch.no_grad():
                self.tail[-1].weight.zero_()
                self.tail[-1].bias.copy_(-torch.tensor(RGB_MEAN))

    def _order(self):
        return (0, 1, 2, 2) if self.block_order == 'released' else (0, 1, 2, 3)

    def transfer(self, x, noise):
        """The network given its noise realisation ``noise`` (``nlm * eps``): ``h + x + noise``."""
        h, w = x.shape[-2:]
        x_pad, noise_pad = _pad_to_multiple(x, 4), _pad_to_multiple(noise, 4)
        feat = self.head(self.mean_shift_in(x_pad))
        out = feat
        for index in self._order():
            out = self.blocks[index](out)
        h_out = self.mean_shift_out(self.tail(torch.cat([feat + out, self.noise_branch(noise_pad)], 1)))
        return (h_out + x_pad + noise_pad)[..., :h, :w]

    def draw_noise(self, nlm, generator=None):
        """``nlm * eps``: ``eps = torch.randn_like(nlm)`` as the release draws it, or from ``generator``."""
        if generator is None:
            return nlm * torch.randn_like(nlm)
        return nlm * torch.randn(nlm.shape, generator=generator, device=nlm.device, dtype=nlm.dtype)

    def forward(self, x, nlm=None, generator=None, noise=None):
        """Transfer the noise of ``x`` to the level ``nlm``; ``noise`` gives the realisation ``nlm * eps`` instead;
        with neither, level zero (no draw)."""
        if noise is None and nlm is None:
            return self.denoise(x)
        return self.transfer(x, self.draw_noise(nlm, generator) if noise is None else noise)

    def denoise(self, x):
        """The test-time call: target noise level zero (deterministic)."""
        return self.transfer(x, torch.zeros_like(x))


@ARCH_REGISTRY.register()
class NTGANDiscriminator(nn.Module):
    """The PatchGAN discriminator released with NTGAN (Zhao, Lun and Lam, BMVC 2020), unused by its code.

    C64 (no norm) - C128 - C256 - C512, each a 4x4 stride-2 convolution (InstanceNorm, LeakyReLU 0.2), then a
    one-pixel zero pad at the top left and a 4x4 convolution to one channel: an ``H/16 x W/16`` score map (8x8 for
    a 128x128 input; receptive field about 94 pixels).

    Args:
        num_in_ch (int): Input channels: the image and what conditions it (6 in the release). Default: 6.
        num_feat (int): Features of the first block, doubled at each of the next three. Default: 64.
    """

    def __init__(self, num_in_ch=6, num_feat=64):
        super().__init__()
        layers, ch = [], num_in_ch
        for i, out_ch in enumerate(num_feat * 2**k for k in range(4)):
            layers.append(nn.Conv2d(ch, out_ch, 4, stride=2, padding=1))
            if i > 0:
                layers.append(nn.InstanceNorm2d(out_ch))
            layers.append(nn.LeakyReLU(0.2, inplace=True))
            ch = out_ch
        layers += [nn.ZeroPad2d((1, 0, 1, 0)), nn.Conv2d(ch, 1, 4, padding=1)]
        self.body = nn.Sequential(*layers)

    def forward(self, x):
        return self.body(x)
