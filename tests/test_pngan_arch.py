"""PNGAN's networks and losses: the released sizes, the multi-scale generator's padding, the relativistic loss
against hand-computed values, the perceptual term on a local VGG."""
import math
import pytest
import torch
from torch.nn import functional as F
from torchvision.models import vgg as tv_vgg

from basicsr_noise.archs.pngan_arch import PNGANDenseDiscriminator, PNGANImageDiscriminator, SMNet
from basicsr_noise.losses.pngan_loss import PNGANPerceptualLoss, PNGANRelativisticLoss


def _count(net):
    return sum(p.numel() for p in net.parameters())


def test_the_released_generator_and_the_dense_discriminator_have_the_published_sizes():
    released = SMNet(variant='released')
    assert _count(released) == 802_207
    assert sum(v.numel() for v in released.state_dict().values()) == 802_207  # the shared PReLU is stored once
    assert _count(PNGANDenseDiscriminator()) == 371_329


def test_the_released_quirks_shared_prelu_and_shared_units():
    net = SMNet(variant='released')
    prelus = [m for m in net.modules() if isinstance(m, torch.nn.PReLU)]
    assert len(prelus) == 1 and prelus[0].weight.numel() == 1  # one parameter for every unit of the network
    x = torch.rand(1, 3, 16, 16)
    before = net(x)
    with torch.no_grad():
        net.shared_act.weight.fill_(0.5)  # every unit uses it: the output changes
    assert not torch.allclose(before, net(x))
    block = net.groups[0].blocks[0]
    calls = []
    handle = block.unit.register_forward_hook(lambda *_: calls.append(1))
    net(x)
    handle.remove()
    assert len(calls) == 2  # one unit's weights applied twice in the block (the release's list of one module)


@pytest.mark.parametrize('size', [(32, 48), (30, 34), (17, 21)])
def test_the_multiscale_generator_keeps_the_size_and_pads_the_others(size):
    torch.manual_seed(0)
    net = SMNet(num_feat=8).eval()
    x = torch.rand(2, 3, *size)
    with torch.no_grad():
        y = net(x)
        assert y.shape == x.shape
        if size[0] % 4 or size[1] % 4:  # padded to multiples of 4 and cropped back: the crop of the padded run
            h, w = (-size[0]) % 4, (-size[1]) % 4
            padded = F.pad(x, (0, w, 0, h), mode='reflect')
            assert torch.allclose(y, net(padded)[..., :size[0], :size[1]], atol=1e-6)
    assert not torch.allclose(y, x)  # the residual is not zero at initialisation


def test_the_generator_predicts_a_residual_on_its_input():
    net = SMNet(num_feat=8)
    with torch.no_grad():
        net.conv_out.weight.zero_()
    x = torch.rand(1, 3, 16, 16)
    assert torch.equal(net(x), x)  # output = input + conv_out(...)


def test_the_discriminators_score_pixels_or_images():
    x = torch.rand(3, 3, 40, 24)
    assert PNGANDenseDiscriminator(num_feat=8)(x).shape == (3, 1, 40, 24)
    assert PNGANImageDiscriminator(num_feat=8)(x).shape == (3, 1, 1, 1)
    dense = PNGANDenseDiscriminator(num_feat=8).eval()
    assert torch.allclose(dense.probability(x), torch.sigmoid(dense(x)))


def test_the_dense_discriminator_sees_a_7x7_neighbourhood():
    """Three 3x3 convolutions and a 1x1: a pixel's score depends on its 7x7 neighbourhood only."""
    dense = PNGANDenseDiscriminator(num_feat=8).eval()
    x = torch.rand(1, 3, 21, 21, requires_grad=True)
    dense(x)[0, 0, 10, 10].backward()
    rows, cols = torch.nonzero(x.grad.abs().sum((0, 1)), as_tuple=True)
    assert (rows.min(), rows.max(), cols.min(), cols.max()) == (7, 13, 7, 13)


# ----------------------------------------------------------------------------------------------- losses
def _log_sigmoid(z):
    return -math.log1p(math.exp(-z))


def test_relativistic_loss_against_hand_computed_values():
    """Two images of two pixels: D_ra compares each pixel with the batch mean of the other kind at that pixel."""
    real = torch.tensor([1.0, -0.5, 2.0, 0.5]).view(2, 1, 1, 2)
    fake = torch.tensor([0.0, 1.5, -1.0, 0.5]).view(2, 1, 1, 2)
    mean_real, mean_fake = [1.5, 0.0], [-0.5, 1.0]  # per pixel, over the batch
    r = [[1.0, -0.5], [2.0, 0.5]]
    f = [[0.0, 1.5], [-1.0, 0.5]]
    d_real = -sum(_log_sigmoid(r[b][p] - mean_fake[p]) for b in range(2) for p in range(2)) / 4
    d_fake = -sum(math.log(1 - math.exp(_log_sigmoid(f[b][p] - mean_real[p]))) for b in range(2) for p in range(2)) / 4
    g_real = -sum(math.log(1 - math.exp(_log_sigmoid(r[b][p] - mean_fake[p]))) for b in range(2) for p in range(2)) / 4
    g_fake = -sum(_log_sigmoid(f[b][p] - mean_real[p]) for b in range(2) for p in range(2)) / 4
    loss = PNGANRelativisticLoss(loss_weight=0.1)
    got_d = loss(real, fake, is_disc=True)
    got_g = loss(real, fake, is_disc=False)
    assert [v.item() for v in got_d] == pytest.approx([d_real, d_fake], abs=1e-6)  # D: unweighted
    assert [v.item() for v in got_g] == pytest.approx([0.1 * g_real, 0.1 * g_fake], abs=1e-6)  # G: lambda_ra


def test_relativistic_loss_is_finite_where_a_plain_log_saturates():
    real, fake = torch.full((2, 1, 2, 2), 60.), torch.full((2, 1, 2, 2), -60.)
    d = sum(PNGANRelativisticLoss()(real, fake, is_disc=True))
    g = sum(PNGANRelativisticLoss()(real, fake, is_disc=False))
    assert d.item() == pytest.approx(0, abs=1e-6) and g.item() == pytest.approx(240, rel=1e-6)  # softplus(120) x 2


def test_relativistic_loss_rejects_mismatched_maps():
    with pytest.raises(ValueError, match='differ in shape'):
        PNGANRelativisticLoss()(torch.zeros(2, 1, 4, 4), torch.zeros(2, 1, 4, 5), is_disc=True)


def _save_features(tmp_path, vgg_type='vgg16', layers=7):
    """A torchvision VGG's ``features.*`` entries (random weights) as a local weights file."""
    cfg = {'vgg16': 'D', 'vgg19': 'E'}[vgg_type]
    torch.manual_seed(0)
    features = tv_vgg.make_layers(tv_vgg.cfgs[cfg])[:layers]
    path = tmp_path / f'{vgg_type}_features.pth'
    torch.save({f'features.{k}': v for k, v in features.state_dict().items()}, path)
    return str(path), features


def test_perceptual_loss_uses_the_local_weights_and_passes_gradients(tmp_path):
    path, features = _save_features(tmp_path)
    loss = PNGANPerceptualLoss(vgg_weights=path, vgg_type='vgg16', layer='relu2_1', loss_weight=6e-3)
    loaded = dict(loss.features.state_dict())
    assert all(torch.equal(loaded[k], v) for k, v in features.state_dict().items())
    x, y = torch.rand(2, 3, 16, 16, requires_grad=True), torch.rand(2, 3, 16, 16)
    value, style = loss(x, y)
    assert style is None and value.item() > 0  # BasicSR's PerceptualLoss convention: (perceptual, style)
    mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
    expected = 6e-3 * F.mse_loss(features((x - mean) / std), features((y - mean) / std))
    assert value.item() == pytest.approx(expected.item(), rel=1e-5)
    value.backward()
    assert x.grad.abs().sum() > 0 and not any(p.requires_grad for p in loss.parameters())
    assert loss(y, y)[0].item() == 0


def test_perceptual_loss_without_local_weights_says_what_to_do(tmp_path):
    with pytest.raises(ValueError, match='needs local VGG weights.*Remove perceptual_opt'):
        PNGANPerceptualLoss(vgg_weights=None)
    with pytest.raises(FileNotFoundError, match='vgg19.pth do not exist'):
        PNGANPerceptualLoss(vgg_weights=str(tmp_path / 'vgg19.pth'))
    path, _ = _save_features(tmp_path, layers=2)
    with pytest.raises(ValueError, match='lack features.2.weight'):
        PNGANPerceptualLoss(vgg_weights=path, vgg_type='vgg16', layer='relu2_1')
    with pytest.raises(ValueError, match="has no layer 'relu9_9'"):
        PNGANPerceptualLoss(vgg_weights=path, vgg_type='vgg16', layer='relu9_9')
