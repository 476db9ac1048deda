import torch
from basicsr.utils.registry import LOSS_REGISTRY
from torch import nn as nn


def _as_covariance(cov, channels):
    """``(B, H, W, C, C)`` from a covariance given as variances ``(B, C, H, W)`` or matrices ``(B, H, W, C, C)``."""
    if cov.dim() == 5:
        return cov
    if cov.dim() == 4 and cov.shape[1] == channels:
        return torch.diag_embed(cov.permute(0, 2, 3, 1))
    raise ValueError(f'A covariance must be (B, C, H, W) variances or (B, H, W, C, C) matrices with C={channels}, '
                     f'got shape {tuple(cov.shape)}.')


@LOSS_REGISTRY.register()
class DBSNLikelihoodLoss(nn.Module):
    """Negative log-likelihood of DBSN, Unpaired Learning of Deep Image Denoising (Wu et al., ECCV 2020).

    Per pixel, ``y ~ N(mu, Sigma_mu + Sigma_n)`` with ``Sigma_mu`` the uncertainty of the blind-spot estimate and
    ``Sigma_n`` the noise covariance (both ``C x C``; grey ``C = 1``):

    * ``constrained`` (the paper): ``1/2 r^T (Sigma_mu + Sigma_n)^-1 r + 1/2 log|Sigma_n| +
      1/2 tr(Sigma_n^-1 Sigma_mu)``, an upper bound of the exact NLL that makes the two covariances identifiable;
    * ``map`` (what the released fine-tuning scripts optimise): ``1/2 r^T (Sigma_mu + Sigma_n)^-1 r +
      1/2 log|Sigma_mu + Sigma_n|``.

    ``eps * I`` is added to every covariance before it is inverted or its determinant taken, so that flat or
    saturated patches (covariances near zero) give finite values. The loss is the mean over pixels times
    ``loss_weight``.

    The official grey scripts instead drop the 1/2 factors, divide the mean by twice the batch, add no ``eps`` and,
    in the constrained loss, clamp the noise variance at 1e-6 inside ``log|Sigma_n|`` and the trace term only. The
    options express that exactly: ``loss_weight: 1 / batch_size``, ``eps: 0``, ``noise_var_min: 1e-6``
    (``options/dbsn/dbsn_grey_awgn25_official.yml``).

    Args:
        mode (str): ``constrained`` or ``map``. Default: constrained.
        loss_weight (float): Default: 1.0.
        eps (float): Regulariser added to the covariances. Default: 1e-6.
        noise_var_min (float): Lower clamp of the noise variance in the two noise terms of the constrained loss
            (variances only, not matrices). Default: 0 (no clamp).
    """

    def __init__(self, mode='constrained', loss_weight=1.0, eps=1e-6, noise_var_min=0.):
        super().__init__()
        if mode not in ('constrained', 'map'):
            raise ValueError(f'DBSNLikelihoodLoss: mode must be constrained or map, got {mode!r}.')
        if eps < 0 or noise_var_min < 0:
            raise ValueError(f'DBSNLikelihoodLoss: eps and noise_var_min must be >= 0, got {eps} and {noise_var_min}.')
        self.mode, self.loss_weight, self.eps, self.noise_var_min = mode, loss_weight, eps, float(noise_var_min)

    def forward(self, y, mu, cov_mu, cov_n):
        """
        Args:
            y (Tensor): Noisy image ``(B, C, H, W)``.
            mu (Tensor): Blind-spot estimate ``(B, C, H, W)``.
            cov_mu (Tensor): Its covariance, variances ``(B, C, H, W)`` or matrices ``(B, H, W, C, C)``.
            cov_n (Tensor): The noise covariance, likewise (broadcast over pixels if ``H = W = 1``).
        """
        channels = y.shape[1]
        if self.noise_var_min and cov_n.dim() == 5:
            raise ValueError('DBSNLikelihoodLoss: noise_var_min applies to noise variances (B, C, H, W), not to '
                             'covariance matrices.')
        eye = torch.eye(channels, dtype=torch.float64, device=y.device)
        cov_mu = _as_covariance(cov_mu, channels).double() + self.eps * eye
        cov_n_noise_terms = _as_covariance(
            cov_n.clamp(min=self.noise_var_min) if self.noise_var_min else cov_n, channels).double() + self.eps * eye
        cov_n = _as_covariance(cov_n, channels).double() + self.eps * eye
        cov_n = cov_n.expand_as(cov_mu) if cov_n.shape != cov_mu.shape else cov_n
        r = (y - mu).double().permute(0, 2, 3, 1).unsqueeze(-1)  # (B, H, W, C, 1)
        chol_y = torch.linalg.cholesky(cov_mu + cov_n)
        mahalanobis = (torch.cholesky_solve(r, chol_y) * r).sum((-2, -1))
        if self.mode == 'map':
            log_det = 2 * torch.log(torch.diagonal(chol_y, dim1=-2, dim2=-1)).sum(-1)
            loss = 0.5 * (mahalanobis + log_det)
        else:
            chol_n = torch.linalg.cholesky(cov_n_noise_terms.expand_as(cov_mu))
            log_det_n = 2 * torch.log(torch.diagonal(chol_n, dim1=-2, dim2=-1)).sum(-1)
            trace = torch.diagonal(torch.cholesky_solve(cov_mu, chol_n), dim1=-2, dim2=-1).sum(-1)
            loss = 0.5 * (mahalanobis + log_det_n + trace)
        return self.loss_weight * loss.mean().to(y.dtype)
