import cv2
import numpy as np
import pytest
import torch
import yaml
from conftest import r2r_options, run_cli, smooth_image, write_png

from basicsr_noise.archs.dncnn_arch import R2RDnCNN
from basicsr_noise.utils.tiling import tiled_forward


def _busy_net():
    """A small DnCNN (receptive-field radius 6) whose residual is far from zero, so tile seams would show."""
    torch.manual_seed(0)
    net = R2RDnCNN(num_in_ch=3, num_feat=8, num_layers=6).eval()
    for m in net.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            torch.nn.init.ones_(m.weight)
    return net


@pytest.mark.parametrize('size', [(37, 53), (64, 64), (100, 41)])
def test_tiled_forward_equals_full_forward(size):
    net = _busy_net()
    x = torch.rand(2, 3, *size)
    with torch.no_grad():
        full = net(x)
        tiled = tiled_forward(net, x, tile_size=24, tile_overlap=12, tile_batch=3)
    torch.testing.assert_close(tiled, full, rtol=1e-5, atol=1e-5)


def test_tiles_with_too_little_overlap_differ():
    net = _busy_net()
    x = torch.rand(1, 3, 48, 48)
    with torch.no_grad():
        assert not torch.allclose(tiled_forward(net, x, tile_size=16, tile_overlap=0), net(x), atol=1e-4)
    with pytest.raises(ValueError, match='tile_overlap'):
        tiled_forward(net, x, tile_size=16, tile_overlap=16)


@pytest.fixture
def checkpoint(tmp_path):
    torch.manual_seed(0)
    net = R2RDnCNN(num_in_ch=3, num_feat=8, num_layers=5)
    with torch.no_grad():
        net.train()(torch.rand(4, 3, 32, 32))  # non-trivial BatchNorm statistics
    path = tmp_path / 'net.pth'
    meta = {'network_g': {'type': 'R2RDnCNN', 'num_in_ch': 3, 'num_feat': 8, 'num_layers': 5}}
    torch.save({'params': net.state_dict(), 'meta': meta}, path)
    return path, net.eval()


def test_infer_folder_with_checkpoint_tiled_matches_the_network(tmp_path, checkpoint):
    ckpt_path, net = checkpoint
    rng = np.random.default_rng(0)
    images = {f'im{i}': smooth_image(rng, 45 + i * 7, 60) for i in range(2)}
    for name, img in images.items():
        write_png(str(tmp_path / 'in' / f'{name}.png'), img)
    (tmp_path / 'in' / 'notes.txt').write_text('not an image')
    result = run_cli(['infer', '-i', str(tmp_path / 'in'), '-o', str(tmp_path / 'out'), '--ckpt', str(ckpt_path),
                      '--tile', '32', '--tile_overlap', '16', '--device', 'cpu'], cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    for name, img in images.items():
        out = cv2.imread(str(tmp_path / 'out' / f'{name}.png'))
        x = torch.from_numpy(img[..., ::-1].astype(np.float32) / 255.).permute(2, 0, 1)[None].contiguous()
        with torch.no_grad():
            expected = net(x).clamp(0, 1)[0].permute(1, 2, 0).numpy()[..., ::-1] * 255.
        assert np.abs(out.astype(np.float64) - expected).max() <= 0.51
    assert 'Denoising' in result.stderr  # the progress bar


def test_infer_with_option_file_applies_r2r_averaging(tmp_path, checkpoint, tiny_data):
    ckpt_path, _ = checkpoint
    opt = r2r_options(tiny_data, **{'r2r.test_samples': 4})
    opt['network_g'] = {'type': 'R2RDnCNN', 'num_in_ch': 3, 'num_feat': 8, 'num_layers': 5}
    (tmp_path / 'r2r.yml').write_text(yaml.safe_dump(opt))
    img_dir = tiny_data / 'val' / 'noisy'
    common = ['-i', str(img_dir), '--device', 'cpu']
    r1 = run_cli(['infer', *common, '-o', str(tmp_path / 'avg'), '--opt', str(tmp_path / 'r2r.yml'), '--weights',
                  str(ckpt_path)], cwd=tmp_path)
    r2 = run_cli(['infer', *common, '-o', str(tmp_path / 'single'), '--ckpt', str(ckpt_path)], cwd=tmp_path)
    assert r1.returncode == 0 and r2.returncode == 0, r1.stderr[-2000:] + r2.stderr[-2000:]
    avg = cv2.imread(str(tmp_path / 'avg' / 'val0.png')).astype(int)
    single = cv2.imread(str(tmp_path / 'single' / 'val0.png')).astype(int)
    assert np.abs(avg - single).mean() > 1  # recorrupted inputs, not the plain pass


def test_infer_errors_name_the_input(tmp_path, checkpoint):
    ckpt_path, _ = checkpoint
    result = run_cli(['infer', '-i', str(tmp_path / 'missing'), '-o', str(tmp_path / 'o'), '--ckpt', str(ckpt_path)],
                     cwd=tmp_path)
    assert result.returncode == 2 and 'missing' in result.stderr
    bare = tmp_path / 'bare.pth'
    torch.save({'params': {}}, bare)
    write_png(str(tmp_path / 'one.png'), np.zeros((8, 8, 3), np.uint8))
    result = run_cli(['infer', '-i', str(tmp_path / 'one.png'), '-o', str(tmp_path / 'o'), '--ckpt', str(bare)],
                     cwd=tmp_path)
    assert result.returncode == 2 and 'meta.network_g' in result.stderr
