"""NoiseTransfer's networks: sizes, the official checkpoints' outputs, the SFT noise draws, padding."""
import json
import pytest
import torch
from conftest import SHARED_DATA, run_cli
from os import path as osp

from basicsr_noise.archs.noisetransfer_arch import NoiseTransferContraE, NoiseTransferRIDNet, NoiseTransferUNet
from basicsr_noise.utils.checkpoint import (convert_noisetransfer_contrae, convert_noisetransfer_official,
                                            convert_noisetransfer_ridnet_official, convert_noisetransfer_unet)
from basicsr_noise.utils.errors import InputError

FORMATS = osp.join(SHARED_DATA, 'official_formats')
needs_formats = pytest.mark.skipif(
    not osp.isfile(osp.join(FORMATS, 'noisetransfer_f16_io.pt')),
    reason='../shared/data/official_formats (NoiseTransfer layouts and outputs) is not present')


def load(name):
    return torch.load(osp.join(FORMATS, name), weights_only=True)


def close(actual, expected):
    torch.testing.assert_close(actual, expected, rtol=1e-5, atol=1e-5)


def n_params(net):
    return sum(p.numel() for p in net.parameters())


def test_parameter_counts_at_the_official_width():
    assert n_params(NoiseTransferUNet()) == 7_384_832
    assert n_params(NoiseTransferContraE()) == 9_382_272
    assert n_params(NoiseTransferRIDNet()) == 1_499_347


def test_the_generator_draws_its_noise_maps_from_the_given_generator():
    torch.manual_seed(0)
    net = NoiseTransferUNet(num_feat=8).eval()
    clean, cond = torch.rand(2, 3, 16, 20), torch.nn.functional.normalize(torch.randn(2, 128), dim=1)
    with torch.no_grad():
        a = net(clean, cond, generator=torch.Generator().manual_seed(3))
        b = net(clean, cond, generator=torch.Generator().manual_seed(3))
        c = net(clean, cond, generator=torch.Generator().manual_seed(4))
        torch.manual_seed(3)
        d = net(clean, cond)  # no generator: the global RNG, in the same order
    assert torch.equal(a, b) and not torch.equal(a, c) and torch.equal(a, d)
    assert (a - c).abs().mean() > 1e-4  # the per-pixel maps really change the output


@pytest.mark.parametrize('size', [(30, 22), (9, 13), (5, 3)])
def test_sizes_that_are_not_multiples_of_four_are_padded_and_cropped(size):
    net = NoiseTransferUNet(num_feat=8).eval()
    encoder = NoiseTransferContraE(num_feat=8).eval()
    x = torch.rand(1, 3, *size)
    with torch.no_grad():
        _, cond = encoder(x)
        noise = net(x, cond, generator=torch.Generator().manual_seed(0))
        _, logits = encoder(x, cond, x + noise)
    assert noise.shape == x.shape and torch.isfinite(noise).all()
    assert cond.shape == (1, 128) and torch.allclose(cond.norm(dim=1), torch.ones(1))
    assert logits[0].shape[-2:] == tuple(-(-s // 4) * 4 for s in size)


def test_the_discriminator_sees_the_condition_and_the_noise():
    torch.manual_seed(0)
    encoder = NoiseTransferContraE(num_feat=8).eval()
    clean = torch.rand(1, 3, 16, 16)
    noisy = clean + 0.1 * torch.randn_like(clean)
    cond = torch.nn.functional.normalize(torch.randn(2, 128), dim=1)
    with torch.no_grad():
        base = encoder(clean, cond[:1], noisy)[1][0]
        other_cond = encoder(clean, cond[1:], noisy)[1][0]
        other_noise = encoder(clean, cond[:1], clean)[1][0]
    assert not torch.allclose(base, other_cond) and not torch.allclose(base, other_noise)


@needs_formats
def test_the_official_quarter_width_networks_reproduce_every_official_output():
    io = load('noisetransfer_f16_io.pt')
    params, network_g = convert_noisetransfer_unet(load('noisetransfer_vunet_f16_official_layout.pt'))
    generator = NoiseTransferUNet(**{k: v for k, v in network_g.items() if k != 'type'}).eval()
    generator.load_state_dict(params)
    params, network_k = convert_noisetransfer_contrae(load('noisetransfer_contrae_f16_official_layout.pt'))
    encoder = NoiseTransferContraE(**{k: v for k, v in network_k.items() if k != 'type'}).eval()
    encoder.load_state_dict(params)
    assert network_g['num_feat'] == network_k['num_feat'] == 16
    with torch.no_grad():
        features, embedding = encoder(io['ref_noisy'])
        close(embedding, io['embedding'])
        for ours, official in zip(features, io['ve_features'], strict=True):
            close(ours, official)
        torch.manual_seed(7)  # the official draws from the global RNG in forward order
        noise = generator(io['clean'], io['embedding'])
        close(noise, io['fake_noise_seed7'])
        features, logits = encoder(io['clean'], io['embedding'], io['clean'] + io['fake_noise_seed7'])
        for ours, official in zip(features + logits, io['dis_features'] + io['dis_logits'], strict=True):
            close(ours, official)


@needs_formats
def test_the_official_ridnet_reproduces_its_output():
    converted = convert_noisetransfer_ridnet_official(load('noisetransfer_ridnet_g_official_layout.pt'))
    network = dict(converted['meta']['network_g'])
    assert network.pop('type') == 'NoiseTransferRIDNet'
    net = NoiseTransferRIDNet(**network).eval()
    net.load_state_dict(converted['params'])
    io = load('noisetransfer_ridnet_g_io.pt')
    with torch.no_grad():
        close(net(io['x']), io['out'])


@needs_formats
def test_the_full_size_official_key_lists_convert():
    shapes = json.load(open(osp.join(FORMATS, 'noisetransfer_full_size_keys.json')))

    def fake(name):
        return {k: torch.zeros(v) for k, v in shapes[name].items()}

    params, opt = convert_noisetransfer_unet(fake('VUNet'))
    assert opt['num_feat'] == 64
    NoiseTransferUNet().load_state_dict(params)
    params, opt = convert_noisetransfer_contrae(fake('ContraE'))
    NoiseTransferContraE().load_state_dict(params)
    converted = convert_noisetransfer_ridnet_official(fake('RIDNet_G'))
    NoiseTransferRIDNet().load_state_dict(converted['params'])


@needs_formats
def test_convert_command_writes_a_generator_checkpoint_from_the_official_folder(tmp_path):
    folder = tmp_path / 'NT'
    folder.mkdir()
    torch.save(load('noisetransfer_vunet_f16_official_layout.pt'), folder / 'VUNet.pt')
    with pytest.raises(FileNotFoundError, match='encoder_k.pt'):
        convert_noisetransfer_official(str(folder))
    torch.save(load('noisetransfer_contrae_f16_official_layout.pt'), folder / 'encoder_k.pt')
    result = run_cli(['convert', '--method', 'noisetransfer', str(folder), str(tmp_path / 'g.pth')], cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    ckpt = torch.load(tmp_path / 'g.pth', weights_only=True)
    assert ckpt['meta']['network_g']['type'] == 'NoiseTransferUNet'
    assert ckpt['meta']['network_key_encoder']['type'] == 'NoiseTransferContraE'
    io = load('noisetransfer_f16_io.pt')
    encoder = NoiseTransferContraE(num_feat=16).eval()
    encoder.load_state_dict(ckpt['params_key_encoder'])
    with torch.no_grad():
        close(encoder(io['ref_noisy'])[1], io['embedding'])


def test_a_foreign_state_dict_is_refused_naming_the_key():
    with pytest.raises(InputError, match="unexpected key 'features.0.weight'"):
        convert_noisetransfer_unet({'features.0.weight': torch.zeros(1)})
    with pytest.raises(InputError, match='no weights for stem_enc.weight_orig'):
        convert_noisetransfer_contrae({'fc1.weight_orig': torch.zeros(1)})
