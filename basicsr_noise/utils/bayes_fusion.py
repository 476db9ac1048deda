"""Bayes-rule fusion of a blind-spot estimate with the noisy pixel (DBSN, Wu et al., ECCV 2020)."""
import torch


def bayes_fusion(y, mu, cov_mu, cov_n, gamma=1.0, eps=1e-6):
    """Posterior mean of the clean pixel from the prior ``N(mu, Sigma_mu)`` and the observation ``y`` with noise
    ``N(0, Sigma_n / gamma)``.

    ``x = (Sigma_mu^-1 + gamma Sigma_n^-1)^-1 (Sigma_mu^-1 mu + gamma Sigma_n^-1 y)``, computed in the equivalent
    gain form ``mu + Sigma_mu (Sigma_mu + Sigma_n / gamma)^-1 (y - mu)``, which needs no inverse of a possibly
    singular ``Sigma_mu``. ``gamma`` scales the noise precision as in the official colour code (its grey code scales
    the noise variance instead; the two agree at ``gamma = 1``). Where the estimate is uncertain the result leans on
    ``y``, where the noise is large it leans on ``mu``.

    Args:
        y, mu (Tensor): ``(B, C, H, W)``.
        cov_mu, cov_n (Tensor): Variances ``(B, C, H, W)`` (per channel, uncorrelated) or covariance matrices
            ``(B, H, W, C, C)``; ``cov_n`` may be ``(B, C, 1, 1)`` / ``(B, 1, 1, C, C)`` for one per image.
        gamma (float): Weight of the observation. Default: 1.
        eps (float): Regulariser added to the covariances. Default: 1e-6.

    Returns:
        Tensor: ``(B, C, H, W)``.
    """
    if cov_mu.dim() == 4 and cov_n.dim() == 4:
        cov_mu = cov_mu + eps
        return mu + cov_mu / (cov_mu + (cov_n + eps) / gamma) * (y - mu)
    channels = y.shape[1]
    eye = torch.eye(channels, dtype=y.dtype, device=y.device)

    def matrices(cov):
        return torch.diag_embed(cov.permute(0, 2, 3, 1)) if cov.dim() == 4 else cov

    cov_mu, cov_n = matrices(cov_mu) + eps * eye, matrices(cov_n) + eps * eye
    residual = (y - mu).permute(0, 2, 3, 1).unsqueeze(-1)
    step = cov_mu @ torch.linalg.solve(cov_mu + cov_n / gamma, residual)
    return mu + step.squeeze(-1).permute(0, 3, 1, 2)
