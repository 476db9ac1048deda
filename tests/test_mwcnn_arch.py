import pytest
import torch

from basicsr_noise.archs.mwcnn_arch import MWCNN, haar_dwt, haar_iwt


def test_haar_transform_is_orthonormal_and_inverted_exactly():
    x = torch.rand(2, 3, 8, 12, dtype=torch.float64)
    w = haar_dwt(x)
    assert w.shape == (2, 12, 4, 6)
    torch.testing.assert_close(haar_iwt(w), x)
    torch.testing.assert_close(w.pow(2).sum(), x.pow(2).sum())  # energy preserved
    torch.testing.assert_close(w[:, :3], x.unfold(2, 2, 2).unfold(3, 2, 2).sum((-1, -2)) / 2)  # LL = block sums / 2
    with pytest.raises(ValueError, match='even'):
        haar_dwt(torch.rand(1, 1, 5, 4))


def test_mwcnn_parameter_count():
    trainable = sum(p.numel() for p in MWCNN(num_in_ch=1).parameters())
    assert trainable == 16_145_892
    assert trainable + 2 * 4 * 2 * 2 == 16_145_924  # + the fixed Haar filters the official code counts


def test_mwcnn_starts_near_identity_is_residual_and_checks_sizes():
    net = MWCNN(num_in_ch=1, feats=(8, 16, 16))
    with torch.no_grad():
        for m in net.dec1.modules():
            if isinstance(m, torch.nn.Conv2d) and m.out_channels == 4:
                m.weight.zero_()  # zero last layer: the wavelet-domain residual returns the input
        x = torch.rand(1, 1, 16, 24)
        torch.testing.assert_close(net(x), x)
        odd = torch.rand(1, 1, 13, 21)
        torch.testing.assert_close(net(odd), odd)  # padded to multiples of 8 and cropped back
        trained = MWCNN(num_in_ch=1, feats=(8, 16, 16))
        padded = torch.nn.functional.pad(odd, (0, 3, 0, 3), mode='reflect')
        torch.testing.assert_close(trained(odd), trained(padded)[..., :13, :21])
