"""The official R2R SIDD weights, converted, reproduce the reference PSNRs through BasicSR's test pipeline."""
import cv2
import numpy as np
import pytest
import re
import torch
import yaml
from basicsr.metrics import calculate_psnr
from conftest import REPO, SHARED_DATA, run_cli
from os import path as osp

from basicsr_noise.archs.dncnn_arch import R2RDnCNN
from basicsr_noise.utils.checkpoint import convert_r2r_official
from basicsr_noise.utils.options import load_options

WEIGHTS = osp.join(SHARED_DATA, 'weights', 'r2r_sidd_dncnn_official.pth')
SIDD = osp.join(SHARED_DATA, 'real_pairs', 'SIDD')
# ../shared/data/README.md: uint8-rounded output as BasicSR validates, and float output clipped to [0, 1]
REFERENCE_UINT8 = {'0010-0013': 33.521, '0010-0022': 32.502, '0012-0027': 36.525}
REFERENCE_FLOAT = {'0010-0013': 33.536, '0010-0022': 32.513, '0012-0027': 36.547}

needs_shared = pytest.mark.skipif(
    not (osp.isfile(WEIGHTS) and osp.isdir(SIDD)),
    reason='../shared/data (official R2R weights and SIDD pairs) is not present in this checkout')


@pytest.fixture(scope='module')
def converted(tmp_path_factory):
    out = tmp_path_factory.mktemp('weights') / 'r2r_sidd.pth'
    result = run_cli(['convert', '--method', 'r2r', WEIGHTS, str(out)], cwd=REPO)
    assert result.returncode == 0, result.stderr
    return out


@needs_shared
def test_basicsr_test_reproduces_the_reference_psnr(converted, tmp_path):
    opt = load_options(osp.join(REPO, 'options', 'test', 'r2r_sidd_official.yml'))  # _base_ merged
    opt['datasets']['test_1'].update(dataroot_lq=osp.join(SIDD, 'noisy'), dataroot_gt=osp.join(SIDD, 'clean'))
    opt['path']['pretrain_network_g'] = str(converted)
    opt_file = tmp_path / 'test.yml'
    opt_file.write_text(yaml.safe_dump(opt))
    result = run_cli(['test', '-opt', str(opt_file)], cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    found = dict(re.findall(r'SIDD_pairs (\S+): psnr ([\d.]+)', result.stdout + result.stderr))
    assert set(found) == set(REFERENCE_UINT8)
    for name, ref in REFERENCE_UINT8.items():
        assert float(found[name]) == pytest.approx(ref, abs=0.01), name
    assert len(list((tmp_path / 'results').rglob('*.png'))) == 3


@needs_shared
def test_float_psnr_of_the_converted_network(converted):
    ckpt = torch.load(converted, weights_only=True)
    net = R2RDnCNN(**{k: v for k, v in ckpt['meta']['network_g'].items() if k != 'type'}).eval()
    net.load_state_dict(ckpt['params'])
    for name, ref in REFERENCE_FLOAT.items():
        noisy = cv2.imread(osp.join(SIDD, 'noisy', f'{name}.png'))[..., ::-1].astype(np.float32) / 255.
        clean = cv2.imread(osp.join(SIDD, 'clean', f'{name}.png'))[..., ::-1].astype(np.float64) / 255.
        with torch.no_grad():
            out = net(torch.from_numpy(noisy.copy()).permute(2, 0, 1)[None]).clamp(0, 1)
        out = out[0].permute(1, 2, 0).double().numpy()
        assert calculate_psnr(out * 255., clean * 255., 0) == pytest.approx(ref, abs=0.01), name


@needs_shared
def test_conversion_is_the_same_network_in_rgb():
    official = torch.load(WEIGHTS, map_location='cpu', weights_only=True)
    params = convert_r2r_official(official)['params']
    net = R2RDnCNN(num_in_ch=3, num_layers=20, first_bias=True, bn_eps=1e-4).eval()
    net.load_state_dict(params)
    bgr_net = R2RDnCNN(num_in_ch=3, num_layers=20, first_bias=True, bn_eps=1e-4).eval()
    bgr_net.load_state_dict({k.replace('module.dncnn.', 'body.'): v for k, v in official.items()})
    x_rgb = torch.rand(1, 3, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(net(x_rgb), bgr_net(x_rgb.flip(1)).flip(1), rtol=1e-5, atol=1e-5)


def test_conversion_rejects_other_checkpoints(tmp_path):
    with pytest.raises(ValueError, match='unexpected key'):
        convert_r2r_official({'conv.weight': torch.zeros(1)})
    bad = tmp_path / 'bad.pth'
    torch.save({'params': {'body.0.weight': torch.zeros(1)}}, bad)
    result = run_cli(['convert', '--method', 'r2r', str(bad), str(tmp_path / 'out.pth')], cwd=tmp_path)
    assert result.returncode != 0 and 'unexpected key' in result.stderr
    existing = tmp_path / 'exists.pth'
    existing.write_bytes(b'keep me')
    result = run_cli(['convert', '--method', 'r2r', str(bad), str(existing)], cwd=tmp_path)
    assert result.returncode == 2 and '--overwrite' in result.stderr
    assert existing.read_bytes() == b'keep me'
