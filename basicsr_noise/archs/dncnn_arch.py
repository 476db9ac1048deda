import math
import torch
from basicsr.utils.registry import ARCH_REGISTRY
from torch import nn as nn


@ARCH_REGISTRY.register()
class R2RDnCNN(nn.Module):
    """DnCNN as used by R2R.

    Beyond a Gaussian Denoiser: Residual Learning of Deep CNN for Image Denoising (Zhang et al., TIP 2017), in
    the two configurations of Recorrupted-to-Recorrupted: Unsupervised Deep Learning for Image Denoising
    (Pang et al., CVPR 2021): the AWGN network (17 convolutions, no biases, BatchNorm) and the real-noise network
    (20 convolutions, bias on the first one, BatchNorm with eps 1e-4).

    The layers sit in one ``nn.Sequential`` named ``body`` whose indices follow the official ``dncnn`` module,
    so official checkpoints map key by key (see ``basicsr-noise convert --method r2r``).

    Args:
        num_in_ch (int): Input channels. Default: 1.
        num_out_ch (int): Output channels. Default: equal to ``num_in_ch``.
        num_feat (int): Feature channels. Default: 64.
        num_layers (int): Number of convolutions, the first and last included. Default: 17.
        first_bias (bool): Bias on the first convolution (the real-noise network). Default: False.
        bn_eps (float): BatchNorm eps. Default: 1e-5.
        bn_momentum (float): BatchNorm momentum (PyTorch convention). Default: 0.1.
        residual (bool): Return ``x - body(x)`` (residual learning) instead of ``body(x)``. Default: True.
    """

    def __init__(self,
                 num_in_ch=1,
                 num_out_ch=None,
                 num_feat=64,
                 num_layers=17,
                 first_bias=False,
                 bn_eps=1e-5,
                 bn_momentum=0.1,
                 residual=True):
        super().__init__()
        num_out_ch = num_in_ch if num_out_ch is None else num_out_ch
        if num_layers < 2:
            raise ValueError(f'R2RDnCNN: num_layers must be at least 2, got {num_layers}.')
        if residual and num_out_ch != num_in_ch:
            raise ValueError(f'R2RDnCNN: residual output needs num_out_ch == num_in_ch, got {num_out_ch} '
                             f'and {num_in_ch}.')
        layers = [nn.Conv2d(num_in_ch, num_feat, 3, 1, 1, bias=first_bias), nn.ReLU(inplace=True)]
        for _ in range(num_layers - 2):
            layers += [
                nn.Conv2d(num_feat, num_feat, 3, 1, 1, bias=False),
                nn.BatchNorm2d(num_feat, eps=bn_eps, momentum=bn_momentum),
                nn.ReLU(inplace=True)
            ]
        layers.append(nn.Conv2d(num_feat, num_out_ch, 3, 1, 1, bias=False))
        self.body = nn.Sequential(*layers)
        self.residual = residual
        self.reset_parameters()

    @torch.no_grad()
    def reset_parameters(self):
        """The DnCNN-PyTorch initialisation the official R2R code uses.

        Kaiming-normal (fan-in) convolutions; BatchNorm scales drawn from N(0, 2/9/64) and clamped to
        [-0.025, 0.025], so that the residual branch starts close to zero; BatchNorm shifts at zero.
        """
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, a=0, mode='fan_in')
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
            elif isinstance(m, nn.BatchNorm2d):
                m.weight.normal_(0, math.sqrt(2. / 9. / 64.)).clamp_(-0.025, 0.025)
                nn.init.zeros_(m.bias)

    def forward(self, x):
        out = self.body(x)
        return x - out if self.residual else out
