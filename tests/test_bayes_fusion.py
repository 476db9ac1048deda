import torch

from basicsr_noise.utils.bayes_fusion import bayes_fusion


def _batch(seed):
    g = torch.Generator().manual_seed(seed)
    return (torch.rand(2, 3, 5, 5, generator=g, dtype=torch.float64) for _ in range(2))


def test_fusion_reduces_to_mu_when_the_noise_dominates_and_to_y_when_the_estimate_is_uncertain():
    y, mu = _batch(0)
    small, large = torch.full_like(y, 1e-8), torch.full_like(y, 1e8)
    torch.testing.assert_close(bayes_fusion(y, mu, small, large, eps=0), mu)
    torch.testing.assert_close(bayes_fusion(y, mu, large, small, eps=0), y)


def test_equal_variances_average_and_gamma_weights_the_observation():
    y, mu = _batch(1)
    var = torch.full_like(y, 0.04)
    torch.testing.assert_close(bayes_fusion(y, mu, var, var, eps=0), (y + mu) / 2)
    torch.testing.assert_close(bayes_fusion(y, mu, var, var, gamma=3.0, eps=0), (3 * y + mu) / 4)


def test_matrix_form_agrees_with_the_precision_form():
    y, mu = _batch(2)
    g = torch.Generator().manual_seed(3)
    a = torch.randn(2, 5, 5, 3, 3, generator=g, dtype=torch.float64)
    b = torch.randn(2, 1, 1, 3, 3, generator=g, dtype=torch.float64)
    cov_mu = a @ a.transpose(-1, -2) + 0.1 * torch.eye(3, dtype=torch.float64)
    cov_n = (b @ b.transpose(-1, -2) + 0.1 * torch.eye(3, dtype=torch.float64)).expand(2, 5, 5, 3, 3)
    gamma = 0.9
    p_mu, p_n = torch.linalg.inv(cov_mu), torch.linalg.inv(cov_n)
    rhs = p_mu @ mu.permute(0, 2, 3, 1)[..., None] + gamma * p_n @ y.permute(0, 2, 3, 1)[..., None]
    expected = (torch.linalg.inv(p_mu + gamma * p_n) @ rhs)[..., 0].permute(0, 3, 1, 2)
    torch.testing.assert_close(bayes_fusion(y, mu, cov_mu, cov_n, gamma=gamma, eps=0), expected)
    # per-channel variances as diagonal matrices give the scalar formula
    var_mu, var_n = torch.rand(2, 3, 5, 5, dtype=torch.float64) + 0.1, torch.rand(2, 3, 5, 5, dtype=torch.float64) + 0.1
    torch.testing.assert_close(bayes_fusion(y, mu, torch.diag_embed(var_mu.permute(0, 2, 3, 1)), var_n, eps=0),
                               bayes_fusion(y, mu, var_mu, var_n, eps=0))
