"""NTGAN's released network and PatchGAN: sizes, arithmetic, the official checkpoint, the simulator's noise maps."""
import pytest
import torch
from conftest import SHARED_DATA, run_cli
from os import path as osp

from basicsr_noise.archs.ntgan_arch import NTGANDiscriminator, NTGANNet
from basicsr_noise.noise import CRFCameraNoise
from basicsr_noise.utils.checkpoint import convert_ntgan_official
from basicsr_noise.utils.errors import InputError

FORMATS = osp.join(SHARED_DATA, 'official_formats')
needs_formats = pytest.mark.skipif(not osp.isfile(osp.join(FORMATS, 'ntgan_io.pt')),
                                   reason='../shared/data/official_formats (NTGAN layout and outputs) is not present')


def test_parameter_counts_and_output_sizes():
    net = NTGANNet()
    assert sum(v.numel() for v in net.state_dict().values()) == 3_508_935  # NTB4 included, as in the release
    used = sum(p.numel() for name, p in net.named_parameters() if not name.startswith('blocks.3.'))
    assert used == 3_206_204  # what the released forward uses
    d = NTGANDiscriminator()
    assert sum(p.numel() for p in d.parameters()) == 2_767_809
    assert d(torch.zeros(1, 6, 128, 128)).shape == (1, 1, 8, 8)


def test_released_order_applies_the_third_block_twice():
    x, nlm = torch.rand(1, 3, 16, 16), torch.rand(1, 3, 16, 16) * 0.1
    for order, uses_fourth in (('released', False), ('sequential', True)):
        torch.manual_seed(0)
        net = NTGANNet(num_feat=8, block_order=order, identity_init=False).eval()
        noise = nlm * torch.randn_like(nlm)
        before = net.transfer(x, noise)
        with torch.no_grad():
            for p in net.blocks[3].parameters():
                p.add_(0.5)
        assert torch.equal(before, net.transfer(x, noise)) != uses_fourth


def test_level_zero_is_deterministic_and_the_noise_skip_is_the_draw():
    torch.manual_seed(0)
    net = NTGANNet(num_feat=8, identity_init=False).eval()
    x = torch.rand(2, 3, 16, 20)
    with torch.no_grad():
        assert torch.equal(net(x), net.denoise(x)) and torch.equal(net(x), net(x, torch.zeros_like(x)))
        nlm = torch.full_like(x, 0.1)
        a = net(x, nlm, generator=torch.Generator().manual_seed(5))
        b = net(x, nlm, generator=torch.Generator().manual_seed(5))
        assert torch.equal(a, b) and not torch.equal(a, net(x, nlm, generator=torch.Generator().manual_seed(6)))
        eps = torch.randn(x.shape, generator=torch.Generator().manual_seed(5))
        torch.testing.assert_close(a, net.transfer(x, nlm * eps))  # the generator's draw is the noise realisation


@pytest.mark.parametrize('size', [(61, 45), (18, 30), (3, 5)])
def test_sizes_that_are_not_multiples_of_four_are_padded(size):
    net = NTGANNet(num_feat=8, identity_init=False).eval()
    x = torch.rand(1, 3, *size)
    with torch.no_grad():
        out = net.denoise(x)
        assert out.shape == x.shape and torch.isfinite(out).all()
        whole = net.denoise(torch.nn.functional.pad(x, (0, (-size[1]) % 4, 0, (-size[0]) % 4), mode='replicate'))
    if min(size) > 3:  # reflect padding: the padded pixels differ from replicate ones, the interior barely
        assert (out[..., :size[0] - 4, :size[1] - 4] - whole[..., :size[0] - 4, :size[1] - 4]).abs().max() < 0.05


def test_mean_shift_and_the_unused_block_are_frozen_and_training_starts_at_the_identity():
    assert not NTGANNet(num_feat=8).mean_shift_in.weight.requires_grad
    assert NTGANNet(num_feat=8, freeze_mean_shift=False).mean_shift_out.bias.requires_grad
    assert not any(p.requires_grad for p in NTGANNet(num_feat=8).blocks[3].parameters())  # NTB4, never run
    assert all(p.requires_grad for p in NTGANNet(num_feat=8, block_order='sequential').blocks[3].parameters())
    x = torch.rand(1, 3, 20, 24)
    with torch.no_grad():
        torch.testing.assert_close(NTGANNet(num_feat=8).denoise(x), x, atol=1e-6, rtol=0)
        assert (NTGANNet(num_feat=8, identity_init=False).denoise(x) - x).abs().max() > 1e-2


def test_grey_and_unknown_orders_are_rejected():
    with pytest.raises(ValueError, match='RGB'):
        NTGANNet(num_in_ch=1)
    with pytest.raises(ValueError, match='block_order'):
        NTGANNet(block_order='paper')


@needs_formats
def test_the_official_checkpoint_converts_and_reproduces_the_official_outputs(tmp_path):
    out = tmp_path / 'ntgan_converted.pth'
    result = run_cli(['convert', '--method', 'ntgan', osp.join(FORMATS, 'ntgan_official_layout.pth'), str(out)],
                     cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    assert '3,508,935 values' in result.stdout
    ckpt = torch.load(out, weights_only=True)
    assert ckpt['meta']['network_g'] == {'type': 'NTGANNet', 'num_in_ch': 3, 'num_feat': 64, 'sa_ch': 2, 'ca_ch': 4,
                                         'block_order': 'released'}
    net = NTGANNet(**{k: v for k, v in ckpt['meta']['network_g'].items() if k != 'type'}).eval()
    net.load_state_dict(ckpt['params'])
    io = torch.load(osp.join(FORMATS, 'ntgan_io.pt'), weights_only=True)
    with torch.no_grad():
        torch.testing.assert_close(net.denoise(io['x']), io['out_nlm_zero'], atol=1e-5, rtol=0)
        torch.manual_seed(123)  # the release draws eps = randn_like(nlm) first thing in forward
        torch.testing.assert_close(net(io['x'], io['nlm']), io['out_nlm_seed123'], atol=1e-5, rtol=0)


def test_the_converter_rejects_other_checkpoints():
    with pytest.raises(InputError, match='Not an official NTGAN checkpoint'):
        convert_ntgan_official({'module.dncnn.0.weight': torch.zeros(1)})
    sd = {f'{k}': v for k, v in NTGANNet(num_feat=8).state_dict().items()}  # already our layout
    with pytest.raises(InputError, match='unexpected key'):
        convert_ntgan_official(sd)


# ----------------------------------------------------------------------------------------------- the simulator
def _fixed_simulator(pattern):
    return CRFCameraNoise(sigma_s=[0.04, 0.04], sigma_c=[0.02, 0.02], crf='gamma', crf_exponent=[0.45, 0.45],
                          patterns=[pattern])


@pytest.mark.parametrize('pattern', ['RGGB', 'none'])
def test_the_std_map_is_the_per_pixel_std_of_the_simulated_noise(pattern):
    """Monte Carlo over 2000 draws of fixed parameters on a ramp from near black to near white (clipping included)."""
    ramp = torch.linspace(0.02, 0.98, 24).reshape(1, 1, 1, 24).expand(2000, 3, 24, 24).contiguous()
    sample = _fixed_simulator(pattern)(ramp, torch.Generator().manual_seed(0))
    empirical = (sample.noisy - ramp).std(0)[:, 2:-2, 2:-2]  # the mirrored border pixels aside
    ratio = empirical / sample.std[0, :, 2:-2, 2:-2]
    assert abs(ratio.median() - 1) < 0.01 and ratio.quantile(0.01) > 0.93 and ratio.quantile(0.99) < 1.07
    # NTGAN's official map is something else: sqrt(sigma_s L + sigma_c), several times the std for most pixels
    irradiance = ramp[:1]**(1 / 0.45)
    torch.testing.assert_close(sample.params['noise_map_official'][:1], torch.sqrt(0.04 * irradiance + 0.02))
    assert (sample.params['noise_map_official'][0] / sample.std[0]).median() > 3
