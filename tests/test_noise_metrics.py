import cv2
import math
import numpy as np
import pytest
import torch
from basicsr.metrics import calculate_metric
from basicsr.models import build_model
from basicsr.utils import tensor2img
from basicsr.utils.registry import MODEL_REGISTRY
from conftest import SHARED_DATA, r2r_options
from os import path as osp
from torch.utils.data import DataLoader

from basicsr_noise.data.noisy_image_dataset import NoisyImageDataset
from basicsr_noise.metrics.noise_metrics import akld_torch, akld_window, calculate_akld, calculate_ks, ks_torch
from basicsr_noise.models.base_model import NoiseBaseModel


def _clean(shape=(96, 96, 3), seed=0):
    """Mid-range smooth-ish clean image, so that noise up to sigma 25 is hardly ever clipped."""
    rng = np.random.default_rng(seed)
    return cv2.GaussianBlur(rng.random(shape) * 255, (0, 0), 3) * 0.4 + 75


def _awgn(clean, sigma, seed):
    rng = np.random.default_rng(seed)
    return np.clip(np.round(clean + rng.normal(0, sigma, clean.shape)), 0, 255)


def _t(img):
    img = img[..., None] if img.ndim == 2 else img
    return torch.from_numpy(img / 255.).permute(2, 0, 1)[None]


def test_akld_window_is_danets():
    # cv2.getGaussianKernel(7, -1), as DANet calls it, is OpenCV's fixed 7-tap table, not a sampled sigma-1.4 Gaussian
    taps = np.array([1, 3.5, 7, 9, 7, 3.5, 1]) / 32
    np.testing.assert_allclose(akld_window(), np.outer(taps, taps), rtol=1e-12)


def test_akld_reference_values():
    clean = _clean()
    real = _awgn(clean, 25, 1)
    assert calculate_akld(real, real, clean) == 0
    assert calculate_akld(clean, real, clean) == pytest.approx(0.5 * (0.1 - 1 - math.log(0.1)), abs=1e-9)  # 0.7013
    closed_form = 0.5 * ((15 / 25)**2 - 1 - math.log((15 / 25)**2))  # KL(N(0, 15^2) || N(0, 25^2)) = 0.1908
    assert calculate_akld(_awgn(clean, 15, 2), real, clean) == pytest.approx(closed_form, abs=0.02)
    assert calculate_akld(_awgn(clean, 25, 2), real, clean) < 0.07  # the estimation floor of a 7x7 window
    assert calculate_akld(_awgn(clean, 25, 2), real, clean) < calculate_akld(_awgn(clean, 20, 2), real, clean)


def test_ks_identical_and_disjoint():
    clean = _clean()
    real = _awgn(clean, 25, 1)
    assert calculate_ks(real, real, clean) == 0
    assert calculate_ks(_awgn(clean, 25, 2), real, clean) < 0.01
    assert calculate_ks(clean + 10, clean - 10, clean) == 1  # all noise +10 against all noise -10
    assert 0.05 < calculate_ks(_awgn(clean, 15, 2), real, clean) < 0.2


def test_metrics_ignore_channel_order_and_accept_grey_and_uint8():
    clean = _clean()
    real, fake = _awgn(clean, 25, 1), _awgn(clean, 10, 2)
    for metric in (calculate_akld, calculate_ks):
        assert metric(fake[..., ::-1], real[..., ::-1], clean[..., ::-1]) == pytest.approx(metric(fake, real, clean))
        assert metric(fake.astype(np.uint8), real.astype(np.uint8), clean.round().astype(np.uint8)) > 0
        assert metric(fake[..., 0], real[..., 0], clean[..., 0]) > 0
    with pytest.raises(ValueError, match='same shape'):
        calculate_akld(fake[:10], real, clean)


def test_numpy_and_torch_agree_and_samples_average():
    clean = _clean((40, 56, 3), seed=3)
    real = _awgn(clean, 20, 1)
    fakes = [_awgn(clean, s, 10 + i) for i, s in enumerate((5, 20, 40))]
    for fake in fakes:
        assert akld_torch(_t(fake), _t(real), _t(clean)).item() == pytest.approx(
            calculate_akld(fake, real, clean), abs=1e-6)
        ks = ks_torch(_t(fake), _t(real), _t(clean)).item()
        assert ks == pytest.approx(calculate_ks(fake, real, clean), abs=1e-6)
    batch = torch.cat([_t(real), _t(real)])
    stack = torch.stack([torch.cat([_t(f), _t(real)]) for f in fakes])  # (L=3, B=2, C, H, W)
    akld, ks = akld_torch(stack, batch, torch.cat([_t(clean)] * 2)), ks_torch(stack, batch, torch.cat([_t(clean)] * 2))
    assert akld.shape == ks.shape == (2, )
    assert akld[0].item() == pytest.approx(np.mean([calculate_akld(f, real, clean) for f in fakes]), abs=1e-6)
    assert ks[0].item() == pytest.approx(np.mean([calculate_ks(f, real, clean) for f in fakes]), abs=1e-6)
    assert akld[1].item() == 0 and ks[1].item() == 0


def test_metrics_are_registered_for_basicsr():
    clean = _clean()
    # the names BasicSR's validation passes: img (generated), img2 (its ground truth: the real noisy image) and the
    # model's clean visual as img_clean
    data = {'img': _awgn(clean, 15, 2), 'img2': _awgn(clean, 25, 1), 'img_clean': clean}
    assert calculate_metric(data, {'type': 'calculate_akld'}) == calculate_akld(**data)
    assert calculate_metric(data, {'type': 'calculate_ks'}) == calculate_ks(**data)


PNGAN = osp.join(SHARED_DATA, 'pngan_outputs', 'SIDD_0010-0022_pngan_generated.png')


@pytest.mark.skipif(not osp.isfile(PNGAN), reason='../shared/data (PNGAN outputs) is not available')
def test_pngan_generated_image_against_its_real_pair():
    read = lambda *p: cv2.imread(osp.join(SHARED_DATA, *p))  # noqa: E731
    clean = read('real_pairs', 'SIDD', 'clean', '0010-0022.png')
    real = read('real_pairs', 'SIDD', 'noisy', '0010-0022.png')
    fake, awgn50 = read(PNGAN), read('pngan_outputs', 'SIDD_0010-0022_gaussian_sigma50.png')
    akld, ks = calculate_akld(fake, real, clean), calculate_ks(fake, real, clean)
    # the values shown in docs/benchmarks.md; PNGAN's paper reports AKLD 0.153 averaged over SIDD validation
    assert akld == pytest.approx(0.1495, abs=5e-4) and ks == pytest.approx(0.0714, abs=5e-4)
    assert calculate_akld(awgn50, real, clean) > 1.0 > akld  # its AWGN sigma-50 input is far from real noise


@MODEL_REGISTRY.register()
class MetricsTestNoiseGeneratorModel(NoiseBaseModel):
    """A stand-in noise generator: its result is the clean image with AWGN sigma 15 (seeded per image); the real
    noisy image is its ground truth and the clean image a visual, as a trained generator's validation sees them."""

    def feed_val_data(self, data):
        self.gt, self.clean = data['lq'].to(self.device), data['gt'].to(self.device)

    def test(self):
        generator = torch.Generator().manual_seed(int(self.clean.sum() * 1000) % 2**31)
        self.output = self.clean + 15 / 255. * torch.randn(self.clean.shape, generator=generator)

    def get_current_visuals(self):
        return {'result': self.output.cpu(), 'gt': self.gt.cpu(), 'clean': self.clean.cpu()}


def test_akld_and_ks_as_validation_metrics_of_a_noise_generator(tiny_data):
    opt = r2r_options(tiny_data)
    del opt['r2r']
    opt.update(model_type='MetricsTestNoiseGeneratorModel', is_train=False, dist=False, rank=0, world_size=1)
    opt['val']['metrics'] = {'akld': {'type': 'calculate_akld'}, 'ks': {'type': 'calculate_ks'}}
    model = build_model(opt)
    dataset = NoisyImageDataset(dict(opt['datasets']['val'], phase='val'))
    model.nondist_validation(DataLoader(dataset), 0, None, False)
    expected = {'akld': [], 'ks': []}
    for item in (dataset[i] for i in range(len(dataset))):  # the same images, scored directly
        model.feed_val_data({k: item[k][None] for k in ('lq', 'gt')})
        model.test()
        fake, real, clean = (tensor2img(t) for t in (model.output, model.gt, model.clean))
        expected['akld'].append(calculate_akld(fake, real, clean))
        expected['ks'].append(calculate_ks(fake, real, clean))
    assert model.metric_results['akld'] == pytest.approx(np.mean(expected['akld']))
    assert model.metric_results['ks'] == pytest.approx(np.mean(expected['ks']))
    assert 0.05 < model.metric_results['akld'] < 1  # sigma 15 against sigma 25: a real, non-zero divergence
