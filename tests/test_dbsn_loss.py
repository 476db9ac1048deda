import math
import pytest
import torch

from basicsr_noise.losses.dbsn_loss import DBSNLikelihoodLoss


def _grey(v):
    return torch.full((1, 1, 1, 1), v, dtype=torch.float64)


@pytest.mark.parametrize('mode, expected', [
    ('map', 0.5 * 0.25 / 0.3 + 0.5 * math.log(0.3)),
    ('constrained', 0.5 * 0.25 / 0.3 + 0.5 * math.log(0.2) + 0.5 * 0.1 / 0.2),
])
def test_grey_values_by_hand(mode, expected):
    loss = DBSNLikelihoodLoss(mode=mode, eps=0)(_grey(1.0), _grey(0.5), _grey(0.1), _grey(0.2))
    assert loss.item() == pytest.approx(expected, rel=1e-12)


def test_colour_full_covariance_by_hand():
    y = torch.tensor([1.0, 0.0, -1.0], dtype=torch.float64).reshape(1, 3, 1, 1)
    mu = torch.zeros_like(y)
    a = torch.tensor([[1.0, 0.2, 0.0], [0.0, 1.0, 0.3], [0.1, 0.0, 1.0]], dtype=torch.float64)
    cov_mu = (0.1 * a @ a.T).reshape(1, 1, 1, 3, 3)
    cov_n = torch.tensor([[0.5, 0.1, 0.0], [0.1, 0.4, 0.05], [0.0, 0.05, 0.3]], dtype=torch.float64)
    cov_n = cov_n.reshape(1, 1, 1, 3, 3)
    r = y.reshape(3, 1)
    s_y, s_mu, s_n = (cov_mu + cov_n)[0, 0, 0], cov_mu[0, 0, 0], cov_n[0, 0, 0]
    maha = (r.T @ torch.linalg.inv(s_y) @ r).item()
    expected_map = 0.5 * (maha + torch.logdet(s_y).item())
    expected_con = 0.5 * (maha + torch.logdet(s_n).item() + torch.trace(torch.linalg.inv(s_n) @ s_mu).item())
    got_map = DBSNLikelihoodLoss('map', eps=0)(y, mu, cov_mu, cov_n).item()
    got_con = DBSNLikelihoodLoss('constrained', eps=0)(y, mu, cov_mu, cov_n).item()
    assert got_map == pytest.approx(expected_map, rel=1e-10) and got_con == pytest.approx(expected_con, rel=1e-10)


def test_diagonal_colour_is_the_sum_of_grey_losses_and_constrained_bounds_map():
    g = torch.Generator().manual_seed(0)
    y, mu, var_mu, var_n = (torch.rand(2, 3, 4, 4, generator=g, dtype=torch.float64) for _ in range(4))
    for mode in ('map', 'constrained'):
        colour = DBSNLikelihoodLoss(mode, eps=0)(y, mu, var_mu, var_n)
        grey = sum(DBSNLikelihoodLoss(mode, eps=0)(y[:, c:c + 1], mu[:, c:c + 1], var_mu[:, c:c + 1],
                                                   var_n[:, c:c + 1]) for c in range(3))
        assert colour.item() == pytest.approx(grey.item(), rel=1e-10)
    # log|S_mu + S_n| <= log|S_n| + tr(S_n^-1 S_mu): the paper's objective bounds the exact NLL from above
    assert DBSNLikelihoodLoss('constrained')(y, mu, var_mu, var_n) >= DBSNLikelihoodLoss('map')(y, mu, var_mu, var_n)


@pytest.mark.parametrize('mode', ['map', 'constrained'])
def test_finite_on_flat_and_saturated_patches(mode):
    y = torch.ones(2, 3, 8, 8)
    zeros = torch.zeros(2, 3, 8, 8)
    loss_fn = DBSNLikelihoodLoss(mode)
    for mu, cov_mu, cov_n in [(y, zeros, zeros), (zeros, zeros, zeros), (y * 1e3, zeros, torch.full_like(y, 1e6))]:
        loss = loss_fn(y, mu, cov_mu, cov_n)
        assert torch.isfinite(loss), (mode, loss)
    mu = torch.zeros_like(y, requires_grad=True)
    cov = torch.zeros(2, 3, 8, 8, requires_grad=True)
    loss_fn(y, mu, cov, cov.detach() + 1e-3).backward()
    assert torch.isfinite(mu.grad).all() and torch.isfinite(cov.grad).all()


def test_bad_mode_and_shapes_are_named():
    with pytest.raises(ValueError, match='mode'):
        DBSNLikelihoodLoss('mle')
    with pytest.raises(ValueError, match='covariance'):
        DBSNLikelihoodLoss()(torch.zeros(1, 3, 2, 2), torch.zeros(1, 3, 2, 2), torch.zeros(1, 2, 2, 2),
                             torch.zeros(1, 3, 2, 2))
