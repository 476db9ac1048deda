"""NoiseTransfer's networks (Lee and Kim, *NoiseTransfer: Image Noise Generation with Contrastive Embeddings*,
ACCV 2022): the SFT U-Net generator, the contrastive encoder that is also the conditional discriminator, and the
downstream RIDNet without mean shift.

Layout and arithmetic follow the official release (docs/noisetransfer.md, "The networks"): every convolution
and linear layer is bias-free and spectral-normalised (``torch.nn.utils.spectral_norm``, as BasicSR's
``UNetDiscriminatorSN``, so the official ``weight_orig/u/v`` keys load after a rename, see
``basicsr-noise convert --method noisetransfer``), convolutions are pre-activation (LeakyReLU 0.01, then the conv)
and images are mapped to [-1, 1] inside. docs/noisetransfer.md.
"""
import torch
from basicsr.archs.ridnet_arch import EAM
from basicsr.utils.registry import ARCH_REGISTRY
from torch import nn
from torch.nn import functional as F
from torch.nn.utils import spectral_norm
from torch.nn.utils.spectral_norm import SpectralNorm

COND_DIM = 128  # the release's noise-embedding size, shared by the generator and the encoder


def _pad_to_multiple(x, multiple):
    """Reflect-pad (replicate when too small) ``(..., H, W)`` at the bottom/right to multiples of ``multiple``.

    Kept in this file (also in ntgan_arch.py and pngan_arch.py) so that the file moves into BasicSR's archs
    unchanged.
    """
    ph, pw = (-x.shape[-2]) % multiple, (-x.shape[-1]) % multiple
    if ph == 0 and pw == 0:
        return x
    mode = 'reflect' if min(x.shape[-2:]) > max(ph, pw) else 'replicate'
    return F.pad(x, (0, pw, 0, ph), mode=mode)


def _sn(module, use_sn):
    return spectral_norm(module) if use_sn else module


@torch.no_grad()
def _settle_spectral_norms(net, iterations=15):
    """Power-iterate every spectral norm's ``u``/``v`` from their random start (as the newer
    ``torch.nn.utils.parametrizations.spectral_norm`` does at creation), so that a network built and put in eval
    mode before any training step divides by its weights' largest singular values, not by a random projection.
    Deterministic; loading a checkpoint replaces ``u``/``v``."""
    for module in net.modules():
        for hook in module._forward_pre_hooks.values():
            if isinstance(hook, SpectralNorm):
                for _ in range(iterations):
                    hook.compute_weight(module, do_power_iteration=True)


def _conv(in_ch, out_ch, kernel, use_sn, stride=1):
    """Bias-free conv; 'same' padding at stride 1, exact halving for the 4x4 stride-2 convs."""
    padding = kernel // 2 - 1 if stride == 2 else kernel // 2
    return _sn(nn.Conv2d(in_ch, out_ch, kernel, stride, padding, bias=False), use_sn)


def _lrelu(x):
    return F.leaky_relu(x, 0.01)


class ConditionalModulation(nn.Module):
    """``gamma`` and ``beta`` (each ``conv1x1(lrelu(conv1x1(.)))``, reduction ``(cond + n) // 4``) from the
    128-d embedding; ``beta`` optionally also sees a fresh per-pixel N(0, 1) map (the generator's SFT)."""

    def __init__(self, cond_dim, num_feat, use_sn, beta_noise):
        super().__init__()
        reduced = (cond_dim + num_feat) // 4
        self.beta_noise = beta_noise
        self.gamma1 = _conv(cond_dim, reduced, 1, use_sn)
        self.gamma2 = _conv(reduced, num_feat, 1, use_sn)
        self.beta1 = _conv(cond_dim + int(beta_noise), reduced, 1, use_sn)
        self.beta2 = _conv(reduced, num_feat, 1, use_sn)

    def forward(self, x, cond, generator=None):
        """``(gamma, beta)``: ``gamma`` ``(B, n, 1, 1)``; ``beta`` ``(B, n, H, W)`` with the noise map, else
        ``(B, n, 1, 1)``.

        The release applies the 1x1 convs to the embedding broadcast over the image; on a spatially constant input
        they are computed once per image instead, and the noise map's channel of ``beta1`` is added per pixel
        (the same arithmetic, 3x fewer operations at full resolution).
        """
        b, _, h, w = x.shape
        cond = cond[:, :, None, None]
        gamma = self.gamma2(_lrelu(self.gamma1(cond)))
        if not self.beta_noise:
            return gamma, self.beta2(_lrelu(self.beta1(cond)))
        # drawn after gamma, as the release does: its RNG order is reproduced without a generator
        xi = torch.randn([b, 1, h, w], device=x.device, generator=generator).to(cond.dtype)
        constant = self.beta1(torch.cat([cond, torch.zeros_like(cond[:, :1])], 1))  # sets beta1.weight (SN)
        per_pixel = constant + self.beta1.weight[:, -1].reshape(1, -1, 1, 1).to(cond.dtype) * xi
        return gamma, self.beta2(_lrelu(per_pixel))


class SFTResBlock(nn.Module):
    """``x + conv(lrelu(SFT(conv(lrelu(SFT(x))))))``, SFT being ``x * (1 + gamma) + beta``."""

    def __init__(self, num_feat, cond_dim, use_sn):
        super().__init__()
        self.sft1 = ConditionalModulation(cond_dim, num_feat, use_sn, beta_noise=True)
        self.conv1 = _conv(num_feat, num_feat, 3, use_sn)
        self.sft2 = ConditionalModulation(cond_dim, num_feat, use_sn, beta_noise=True)
        self.conv2 = _conv(num_feat, num_feat, 3, use_sn)

    def forward(self, x, cond, generator=None):
        gamma, beta = self.sft1(x, cond, generator)
        y = self.conv1(_lrelu(x * (1 + gamma) + beta))
        gamma, beta = self.sft2(y, cond, generator)
        y = self.conv2(_lrelu(y * (1 + gamma) + beta))
        return x + y


@ARCH_REGISTRY.register()
class NoiseTransferUNet(nn.Module):
    """NoiseTransfer's generator (Lee and Kim, *NoiseTransfer: Image Noise Generation with Contrastive
    Embeddings*, ACCV 2022): a U-Net of SFT residual blocks (4, 3, 2, 3, 4 at widths F, 2F, 4F) conditioned on the
    L2-normalised noise embedding of a reference image; it returns the additive noise, the noisy image being
    ``clean + noise``. Each SFT layer draws a per-pixel N(0, 1) map (32 per forward), from ``generator`` when one
    is given, otherwise from the global RNG in the release's order. Sizes that are not multiples of 4 are padded
    and cropped.

    Args:
        num_in_ch (int): Image channels. Default: 3.
        num_feat (int): Width F of the first scale (official: 64, 7,384,832 parameters). Default: 64.
        cond_dim (int): Embedding size. Default: 128.
        spectral_norm (bool): Spectral-normalise every layer (official: True). Default: True.
    """

    def __init__(self, num_in_ch=3, num_feat=64, cond_dim=COND_DIM, spectral_norm=True):
        super().__init__()
        f1, f2, f3 = num_feat, num_feat * 2, num_feat * 4
        sn = spectral_norm
        self.conv_first = _conv(num_in_ch, f1, 3, sn)
        self.enc1 = nn.ModuleList(SFTResBlock(f1, cond_dim, sn) for _ in range(4))
        self.down1 = _conv(f1, f2, 4, sn, stride=2)
        self.enc2 = nn.ModuleList(SFTResBlock(f2, cond_dim, sn) for _ in range(3))
        self.down2 = _conv(f2, f3, 4, sn, stride=2)
        self.bottleneck = nn.ModuleList(SFTResBlock(f3, cond_dim, sn) for _ in range(2))
        self.up2 = _sn(nn.ConvTranspose2d(f3, f2, 4, 2, 1, bias=False), sn)
        self.fuse2 = _conv(2 * f2, f2, 3, sn)
        self.dec2 = nn.ModuleList(SFTResBlock(f2, cond_dim, sn) for _ in range(3))
        self.up1 = _sn(nn.ConvTranspose2d(f2, f1, 4, 2, 1, bias=False), sn)
        self.fuse1 = _conv(2 * f1, f1, 3, sn)
        self.dec1 = nn.ModuleList(SFTResBlock(f1, cond_dim, sn) for _ in range(4))
        self.conv_last = _conv(f1, num_in_ch, 1, sn)
        _settle_spectral_norms(self)

    @staticmethod
    def _run(blocks, y, cond, generator):
        for block in blocks:
            y = block(y, cond, generator)
        return y

    def forward(self, clean, cond, generator=None):
        """The noise for ``clean`` (in [0, 1]) under the embedding ``cond`` ``(B, cond_dim)``."""
        h, w = clean.shape[-2:]
        y = self.conv_first(_pad_to_multiple(clean, 4) * 2 - 1)
        skip1 = y = self._run(self.enc1, y, cond, generator)
        skip2 = y = self._run(self.enc2, self.down1(y), cond, generator)
        y = self.up2(self._run(self.bottleneck, self.down2(y), cond, generator))
        y = self._run(self.dec2, self.fuse2(_lrelu(torch.cat([y, skip2], 1))), cond, generator)
        y = self.up1(y)
        y = self._run(self.dec1, self.fuse1(_lrelu(torch.cat([y, skip1], 1))), cond, generator)
        return self.conv_last(_lrelu(y))[..., :h, :w]


class SharedResBlock(nn.Module):
    """A pre-activation residual block whose two 3x3 convs serve both roles of ``NoiseTransferContraE``: with
    affine instance norms in the encoder role, with conditional instance norms (``IN(x) * (1 + gamma(k)) +
    beta(k)``) in the discriminator role."""

    def __init__(self, num_feat, cond_dim, use_sn):
        super().__init__()
        self.enc_norm1 = nn.InstanceNorm2d(num_feat, affine=True)
        self.dis_norm1 = ConditionalInstanceNorm(cond_dim, num_feat, use_sn)
        self.conv1 = _conv(num_feat, num_feat, 3, use_sn)
        self.enc_norm2 = nn.InstanceNorm2d(num_feat, affine=True)
        self.dis_norm2 = ConditionalInstanceNorm(cond_dim, num_feat, use_sn)
        self.conv2 = _conv(num_feat, num_feat, 3, use_sn)

    def forward(self, x, cond=None):
        if cond is None:
            y = self.conv1(_lrelu(self.enc_norm1(x)))
            y = self.conv2(_lrelu(self.enc_norm2(y)))
        else:
            y = self.conv1(_lrelu(self.dis_norm1(x, cond)))
            y = self.conv2(_lrelu(self.dis_norm2(y, cond)))
        return x + y


class ConditionalInstanceNorm(nn.Module):
    """``IN(x) * (1 + gamma(k)) + beta(k)``, the instance norm without affine parameters."""

    def __init__(self, cond_dim, num_feat, use_sn):
        super().__init__()
        self.modulation = ConditionalModulation(cond_dim, num_feat, use_sn, beta_noise=False)

    def forward(self, x, cond):
        gamma, beta = self.modulation(x, cond)
        return F.instance_norm(x) * (1 + gamma) + beta


class EncoderHead(nn.Module):
    """The encoder role's feature map at one scale: ``conv3(lrelu(IN(conv1x1(x))))``."""

    def __init__(self, num_feat, use_sn):
        super().__init__()
        self.proj = _conv(num_feat, num_feat, 1, use_sn)
        self.norm = nn.InstanceNorm2d(num_feat, affine=True)
        self.conv = _conv(num_feat, num_feat, 3, use_sn)

    def forward(self, x):
        return self.conv(_lrelu(self.norm(self.proj(x))))


class DiscriminatorHead(nn.Module):
    """The discriminator role at one scale: ``t = CIN(conv1x1(x), k)`` continues the trunk; the feature map is
    ``conv3(lrelu(t))`` and the patch logits ``conv1x1`` of it."""

    def __init__(self, num_feat, cond_dim, use_sn):
        super().__init__()
        self.proj = _conv(num_feat, num_feat, 1, use_sn)
        self.norm = ConditionalInstanceNorm(cond_dim, num_feat, use_sn)
        self.conv = _conv(num_feat, num_feat, 3, use_sn)
        self.logit = _conv(num_feat, 1, 1, use_sn)

    def forward(self, x, cond):
        trunk = self.norm(self.proj(x), cond)
        feature = self.conv(_lrelu(trunk))
        return trunk, feature, self.logit(feature)


@ARCH_REGISTRY.register()
class NoiseTransferContraE(nn.Module):
    """NoiseTransfer's contrastive noise encoder, which is also its conditional discriminator (Lee and Kim,
    *NoiseTransfer: Image Noise Generation with Contrastive Embeddings*, ACCV 2022). The residual-block convs and
    the two downsampling convs are shared by both roles; stems, norms, heads and the projection are per role.

    * ``net(noisy)``: the encoder role; returns ``(features, embedding)``, the three feature maps (scales 1, 1/2,
      1/4) and the L2-normalised ``(B, cond_dim)`` embedding of their spatial means.
    * ``net(clean, embedding, noisy)``: the discriminator role on ``[2 * clean - 1, noisy - clean]`` conditioned on
      the embedding; returns ``(features, logits)``, three feature maps and three patch-logit maps.

    Sizes that are not multiples of 4 are padded (the outputs are those of the padded image).

    Args:
        num_in_ch (int): Image channels. Default: 3.
        num_feat (int): Width F of the first scale (official: 64, 9,382,272 parameters). Default: 64.
        cond_dim (int): Embedding size. Default: 128.
        spectral_norm (bool): Spectral-normalise every conv and linear layer (official: True). Default: True.
    """

    def __init__(self, num_in_ch=3, num_feat=64, cond_dim=COND_DIM, spectral_norm=True):
        super().__init__()
        widths = (num_feat, num_feat * 2, num_feat * 4)
        sn = spectral_norm
        self.stem_enc = _conv(num_in_ch, widths[0], 3, sn)
        self.stem_dis = _conv(2 * num_in_ch, widths[0], 3, sn)
        self.blocks = nn.ModuleList(
            nn.ModuleList(SharedResBlock(width, cond_dim, sn) for _ in range(count))
            for width, count in zip(widths, (2, 3, 4)))
        self.downs = nn.ModuleList(_conv(widths[i], widths[i + 1], 4, sn, stride=2) for i in range(2))
        self.enc_heads = nn.ModuleList(EncoderHead(width, sn) for width in widths)
        self.dis_heads = nn.ModuleList(DiscriminatorHead(width, cond_dim, sn) for width in widths)
        self.fc1 = _sn(nn.Linear(sum(widths), sum(widths), bias=False), sn)
        self.fc2 = _sn(nn.Linear(sum(widths), cond_dim, bias=False), sn)
        _settle_spectral_norms(self)

    def forward(self, x, cond=None, noisy=None):
        if cond is None:
            return self.encode(x)
        return self.discriminate(x, cond, noisy)

    def encode(self, noisy):
        y = self.stem_enc(_pad_to_multiple(noisy, 4) * 2 - 1)
        features = []
        for scale in range(3):
            if scale:
                y = self.downs[scale - 1](y)
            for block in self.blocks[scale]:
                y = block(y)
            features.append(self.enc_heads[scale](y))
        descriptor = torch.cat([f.mean(dim=(2, 3)) for f in features], 1)
        embedding = F.normalize(self.fc2(_lrelu(self.fc1(descriptor))), dim=1)
        return tuple(features), embedding

    def discriminate(self, clean, cond, noisy):
        clean, noisy = _pad_to_multiple(clean, 4), _pad_to_multiple(noisy, 4)
        y = self.stem_dis(torch.cat([clean * 2 - 1, noisy - clean], 1))
        features, logits = [], []
        for scale in range(3):
            if scale:
                y = self.downs[scale - 1](y)
            for block in self.blocks[scale]:
                y = block(y, cond)
            y, feature, logit = self.dis_heads[scale](y, cond)
            features.append(feature)
            logits.append(logit)
        return tuple(features), tuple(logits)


@ARCH_REGISTRY.register()
class NoiseTransferRIDNet(nn.Module):
    """RIDNet (Anwar and Barnes, *Real Image Denoising with Feature Attention*, ICCV 2019) as NoiseTransfer's
    release trains it downstream: BasicSR's EAM blocks without the mean shift, and a long skip from the head into
    the tail (``tail(body(relu(head(x))) + head(x)) + x``), which BasicSR's ``RIDNet`` lacks; 1,499,347 parameters.

    Args:
        num_in_ch (int): Image channels. Default: 3.
        num_feat (int): Width. Default: 64.
        num_block (int): EAM blocks. Default: 4.
    """

    def __init__(self, num_in_ch=3, num_feat=64, num_block=4):
        super().__init__()
        self.head = nn.Conv2d(num_in_ch, num_feat, 3, 1, 1)
        self.body = nn.Sequential(*(EAM(num_feat, num_feat, num_feat) for _ in range(num_block)))
        self.tail = nn.Conv2d(num_feat, num_in_ch, 3, 1, 1)

    def forward(self, x):
        head = self.head(x)
        return x + self.tail(self.body(F.relu(head)) + head)
