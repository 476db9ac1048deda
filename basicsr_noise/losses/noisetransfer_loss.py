"""NoiseTransfer's losses (Lee and Kim, ACCV 2022): the InfoNCE of its contrastive noise embeddings and the
blurred-L1 consistency. The adversarial term is BasicSR's vanilla ``GANLoss`` on the three patch-logit maps and the
feature matching BasicSR's ``L1Loss`` (``NoiseTransferModel``)."""
import torch
from basicsr.utils.registry import LOSS_REGISTRY
from torch import nn as nn
from torch.nn import functional as F
from torchvision.transforms.functional import gaussian_blur


@LOSS_REGISTRY.register()
class NoiseTransferInfoNCELoss(nn.Module):
    """The contrastive loss of NoiseTransfer (Lee and Kim, *NoiseTransfer: Image Noise Generation with Contrastive
    Embeddings*, ACCV 2022), MoCo-style: for query ``u_i`` and keys ``k_j`` of the batch,

    ``l_i = -log(exp(u_i k_i / t) / (sum_j exp(u_i k_j / t) + sum_m exp(u_i Q_m / t)))``,

    the positive being the same-index key, the negatives every other key of the batch and the whole queue ``Q``;
    the mean over the batch. As the release: the row maximum is subtracted first and ``1e-8`` is added inside the
    log.

    Args:
        temperature (float): ``t``. Default: 0.1.
        loss_weight (float): Default: 1.
    """

    def __init__(self, temperature=0.1, loss_weight=1.0):
        super().__init__()
        if temperature <= 0:
            raise ValueError(f'NoiseTransferInfoNCELoss.temperature must be positive, got {temperature}.')
        self.temperature = temperature
        self.loss_weight = loss_weight

    def forward(self, query, keys, queue):
        """``(loss, top-1 accuracy)``.

        Args:
            query (Tensor): ``(N, D)`` L2-normalised queries.
            keys (Tensor): ``(N, D)`` their positive keys (no gradient is taken through them).
            queue (Tensor): ``(K, D)`` negative keys.
        """
        keys, queue = keys.detach(), queue.detach().to(query)
        logits = torch.cat([query @ keys.t(), query @ queue.t()], 1) / self.temperature
        logits = logits - logits.max(dim=1, keepdim=True)[0].detach()
        log_prob = logits - torch.log(logits.exp().sum(1, keepdim=True) + 1e-8)
        positives = torch.arange(query.shape[0], device=query.device)
        loss = -log_prob[positives, positives].mean()
        accuracy = (logits.argmax(dim=1) == positives).float().mean()
        return loss * self.loss_weight, accuracy


@LOSS_REGISTRY.register()
class NoiseTransferBlurL1Loss(nn.Module):
    """NoiseTransfer's consistency term (Lee and Kim, *NoiseTransfer: Image Noise Generation with Contrastive
    Embeddings*, ACCV 2022): L1 between Gaussian-blurred images (reflect padding), which ties the low frequencies
    and colour of the generated noisy image to the real one while leaving the noise free.

    Args:
        kernel_size (int): Blur kernel size. Default: 21.
        sigma (float | None): Blur sigma; None is torchvision's default for the size (3.5 for 21), as the release.
        loss_weight (float): Default: 1 (the release: 100).
    """

    def __init__(self, kernel_size=21, sigma=None, loss_weight=1.0):
        super().__init__()
        if kernel_size < 1 or kernel_size % 2 == 0:
            raise ValueError(f'NoiseTransferBlurL1Loss.kernel_size must be odd and positive, got {kernel_size}.')
        self.kernel_size = kernel_size
        self.sigma = sigma if sigma is not None else 0.3 * ((kernel_size - 1) * 0.5 - 1) + 0.8
        self.loss_weight = loss_weight

    def blur(self, x):
        return gaussian_blur(x, [self.kernel_size] * 2, [self.sigma] * 2)

    def forward(self, pred, target):
        if min(pred.shape[-2:]) <= self.kernel_size // 2:
            raise ValueError(f'NoiseTransferBlurL1Loss needs images larger than {self.kernel_size // 2} pixels '
                             f'(reflect padding of the {self.kernel_size}-tap blur), got {tuple(pred.shape[-2:])}.')
        return F.l1_loss(self.blur(pred), self.blur(target)) * self.loss_weight
