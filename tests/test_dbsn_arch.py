import pytest
import torch

from basicsr_noise.archs.dbsn_arch import DBSNNet, DBSNNoiseEstimator, DBSNSigmaMuNet


def _count(net):
    return sum(p.numel() for p in net.parameters())


@pytest.mark.parametrize('channels, expected', [(1, 6_612_289), (3, 6_612_675)])
def test_dbsn_parameter_counts_match_the_spec(channels, expected):
    assert _count(DBSNNet(num_in_ch=channels)) == expected


@pytest.mark.parametrize('kwargs, expected', [
    (dict(num_mid=16, num_out=1), 1_841),
    (dict(num_mid=32, num_out=1), 4_193),
])
def test_sigma_mu_head_parameter_counts(kwargs, expected):
    assert _count(DBSNSigmaMuNet(**kwargs)) == expected


def test_noise_estimator_parameter_count_and_zero_start():
    net = DBSNNoiseEstimator(num_in_ch=1, num_mid=16)
    assert _count(net) == 865
    assert torch.equal(net(torch.rand(1, 1, 8, 8)), torch.zeros(1, 1, 8, 8))


@pytest.mark.parametrize('channels', [1, 3])
@pytest.mark.parametrize('size', [(21, 21), (24, 31)])
def test_the_blind_spot_is_exact(channels, size):
    # a small D-BSN (same layer pattern, fewer channels and blocks) keeps the test fast; the masks and dilations
    # that make the blind spot are the same as in the full network
    torch.manual_seed(0)
    net = DBSNNet(num_in_ch=channels, num_feat=8, num_blocks=2, return_feature=True).double()
    x = torch.rand(1, channels, *size, dtype=torch.float64, requires_grad=True)
    mu, feat = net(x)
    for (i, j) in [(0, 0), (size[0] // 2, size[1] // 2), (size[0] - 1, 3), (5, size[1] - 1)]:
        for out, name in ((mu, 'mu'), (feat, 'feature')):
            grad, = torch.autograd.grad(out[0, :, i, j].sum(), x, retain_graph=True)
            assert torch.all(grad[0, :, i, j] == 0), f'{name} at {(i, j)} sees its own input pixel'
            assert grad.abs().sum() > 0  # it does see the others
    # without the mask the centre leaks: the test above can fail
    for m in net.modules():
        if hasattr(m, 'mask'):
            m.mask.fill_(1)
    grad, = torch.autograd.grad(net(x)[0][0, :, 5, 5].sum(), x)
    assert grad[0, :, 5, 5].abs().sum() > 0


@pytest.mark.parametrize('kernel_size', [3, 5])
def test_each_branch_is_blind_on_its_own(kernel_size):
    from basicsr_noise.archs.dbsn_arch import BlindSpotBranch
    torch.manual_seed(0)
    branch = BlindSpotBranch(channels=16, kernel_size=kernel_size, num_blocks=3).double()
    x = torch.rand(1, 16, 23, 19, dtype=torch.float64, requires_grad=True)
    grad, = torch.autograd.grad(branch(x)[0, :, 11, 9].sum(), x)
    assert torch.all(grad[0, :, 11, 9] == 0) and grad.abs().sum() > 0


def test_the_full_size_network_is_blind():
    torch.manual_seed(0)
    net = DBSNNet(num_in_ch=1)
    x = torch.rand(1, 1, 25, 25, requires_grad=True)
    grad, = torch.autograd.grad(net(x)[0, 0, 12, 12], x)
    assert grad[0, 0, 12, 12] == 0 and grad.abs().sum() > 0
