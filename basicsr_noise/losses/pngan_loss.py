"""PNGAN's losses (Cai et al., NeurIPS 2021): the pixel-level relativistic-average adversarial loss and the
perceptual term on a local VGG. The image-domain alignment is BasicSR's ``L1Loss`` on the frozen denoiser's
outputs (``PNGANModel``)."""
import torch
from basicsr.archs.vgg_arch import NAMES
from basicsr.utils.registry import LOSS_REGISTRY
from os import path as osp
from torch import nn as nn
from torch.nn import functional as F
from torchvision.models import vgg as tv_vgg


@LOSS_REGISTRY.register()
class PNGANRelativisticLoss(nn.Module):
    """The pixel-level relativistic-average GAN loss of PNGAN (Cai et al., *Learning to Generate Realistic Noisy
    Images via Pixel-level Noise-aware Adversarial Training*, NeurIPS 2021, Eq. 6), on the discriminator's logits.

    At every pixel ``p``, ``D_ra(a, b)[p] = sigmoid(C(a)[p] - E_b[C(b)[p]])``, the expectation taken over the
    batch at that pixel. The discriminator minimises ``-E[log D_ra(real, fake)] - E[log(1 - D_ra(fake, real))]``,
    the generator ``-E[log(1 - D_ra(real, fake))] - E[log D_ra(fake, real)]``; the outer expectations are means
    over batch and pixels, each log computed as a softplus of the logit difference (exact, and finite where a
    clamped log would saturate).

    Args:
        loss_weight (float): Weight of the generator's loss (lambda_ra; the discriminator's is 1, as BasicSR's
            ``GANLoss``). Default: 1.
    """

    def __init__(self, loss_weight=1.0):
        super().__init__()
        self.loss_weight = loss_weight

    def forward(self, real_logits, fake_logits, is_disc):
        """``(real term, fake term)``: the two expectations of the loss (their sum is the loss).

        Args:
            real_logits (Tensor): ``C(real)``, ``(B, 1, H, W)``.
            fake_logits (Tensor): ``C(fake)``, the same shape.
            is_disc (bool): The discriminator's loss, else the generator's (weighted by ``loss_weight``).
        """
        if real_logits.shape != fake_logits.shape:
            raise ValueError(f'PNGANRelativisticLoss: real and fake logits differ in shape, '
                             f'{tuple(real_logits.shape)} and {tuple(fake_logits.shape)}.')
        real_vs_fake = real_logits - fake_logits.mean(0, keepdim=True)
        fake_vs_real = fake_logits - real_logits.mean(0, keepdim=True)
        sign = 1. if is_disc else -1.  # -log(sigmoid(z)) = softplus(-z), -log(1 - sigmoid(z)) = softplus(z)
        real_term = F.softplus(-sign * real_vs_fake).mean()
        fake_term = F.softplus(sign * fake_vs_real).mean()
        weight = 1. if is_disc else self.loss_weight
        return weight * real_term, weight * fake_term


VGG_CONFIGS = {'vgg11': 'A', 'vgg13': 'B', 'vgg16': 'D', 'vgg19': 'E'}


def check_vgg_weights(weights_path, vgg_type='vgg19'):
    """Raise, with what to do, when the local VGG weights of the perceptual loss are not given or missing."""
    if not weights_path:
        raise ValueError('The perceptual loss needs local VGG weights (vgg_weights: a torchvision state dict such as '
                         'vgg19-dcbb9e9d.pth; nothing is downloaded at run time). Remove perceptual_opt to train '
                         'without the term.')
    if not osp.isfile(weights_path):
        raise FileNotFoundError(f'VGG weights {weights_path} do not exist (a torchvision {vgg_type} state dict, e.g. '
                                'vgg19-dcbb9e9d.pth); remove perceptual_opt to train without the term.')


def vgg_features(vgg_type, layer, weights_path):
    """torchvision's VGG convolutional layers up to ``layer`` (BasicSR's layer names, e.g. ``relu5_4``), loaded
    from a local torchvision state dict (the whole network's, or its ``features.*`` entries only), frozen, in eval
    mode."""
    if vgg_type not in VGG_CONFIGS:
        raise ValueError(f'vgg_type must be one of {sorted(VGG_CONFIGS)}, got {vgg_type!r}.')
    if layer not in NAMES[vgg_type]:
        raise ValueError(f'{vgg_type} has no layer {layer!r}; its layers: {", ".join(NAMES[vgg_type])}.')
    check_vgg_weights(weights_path, vgg_type)
    features = tv_vgg.make_layers(tv_vgg.cfgs[VGG_CONFIGS[vgg_type]])[:NAMES[vgg_type].index(layer) + 1]
    try:
        state = torch.load(weights_path, map_location='cpu', weights_only=True)
    except Exception as e:  # noqa: BLE001 (torch raises several types for a bad file)
        raise ValueError(f'Cannot read VGG weights {weights_path}: {e}') from e
    state = state.get('params', state)
    wanted = features.state_dict()
    given = {k[len('features.'):]: v for k, v in state.items() if k.startswith('features.')}
    missing = [k for k in wanted if k not in given]
    if missing:
        raise ValueError(f'VGG weights {weights_path} lack features.{missing[0]} (not a torchvision {vgg_type} '
                         'state dict?).')
    features.load_state_dict({k: given[k] for k in wanted})
    return features.eval().requires_grad_(False)


@LOSS_REGISTRY.register()
class PNGANPerceptualLoss(nn.Module):
    """PNGAN's perceptual term (Cai et al., NeurIPS 2021, Eq. 12): ``||phi(a) - phi(b)||_2^2`` with ``phi`` the
    features of an ImageNet VGG at one layer, averaged over the feature elements (the paper leaves the layer and
    the reduction open: docs/pngan.md).

    Args:
        vgg_weights (str): Local torchvision VGG state dict (required: nothing is downloaded).
        layer (str): Feature layer, BasicSR's names. Default: ``relu5_4``.
        vgg_type (str): ``vgg19`` (default), ``vgg16``, ...
        use_input_norm (bool): Normalise inputs in [0, 1] with the ImageNet mean and std. Default: True.
        loss_weight (float): lambda_p. Default: 1.
    """

    def __init__(self, vgg_weights=None, layer='relu5_4', vgg_type='vgg19', use_input_norm=True, loss_weight=1.0):
        super().__init__()
        self.features = vgg_features(vgg_type, layer, vgg_weights)
        self.use_input_norm, self.loss_weight = use_input_norm, loss_weight
        self.register_buffer('mean', torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1), persistent=False)
        self.register_buffer('std', torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1), persistent=False)

    def train(self, mode=True):
        super().train(mode)
        self.features.eval()  # frozen: no dropout, and its layers never switch to training
        return self

    def _phi(self, x):
        if self.use_input_norm:
            x = (x - self.mean) / self.std
        return self.features(x)

    def forward(self, x, target):
        """``(perceptual loss, None)``: BasicSR's ``PerceptualLoss`` convention (no style term)."""
        return self.loss_weight * F.mse_loss(self._phi(x), self._phi(target).detach()), None
