"""Combining noise models: sequences, random choices and JPEG compression."""
import torch

from .base import NoiseModel, NoiseSample, check_image_batch
from .registry import NOISE_REGISTRY, build_noise, check_range, sample_uniform


def _build_all(models, owner):
    if not isinstance(models, (list, tuple)) or not models:
        raise ValueError(f'{owner}.models must be a non-empty list of noise options.')
    return [m if isinstance(m, NoiseModel) else build_noise(m) for m in models]


@NOISE_REGISTRY.register()
class ComposeNoise(NoiseModel):
    """Apply noise models one after the other (e.g. camera noise, then JPEG).

    The returned standard deviation is ``sqrt(sum of the stages' variances)`` when every stage reports one: exact
    for independent additive stages, each stage's deviation being evaluated on its own input; otherwise None.
    """

    def __init__(self, models, **kwargs):
        super().__init__(**kwargs)
        self.models = _build_all(models, 'ComposeNoise')

    def sample(self, x, generator=None):
        variance, params = torch.zeros_like(x), {}
        for i, model in enumerate(self.models):
            result = model(x, generator)
            x = result.noisy
            variance = None if variance is None or result.std is None else variance + result.std**2
            params.update({f'{i}.{k}': v for k, v in result.params.items()})
        return NoiseSample(x, None if variance is None else variance.sqrt(), params=params)


@NOISE_REGISTRY.register()
class RandomChoiceNoise(NoiseModel):
    """Draw one of several noise models per sample (with ``probs``, default uniform); one batched call per model."""

    def __init__(self, models, probs=None, **kwargs):
        super().__init__(**kwargs)
        self.models = _build_all(models, 'RandomChoiceNoise')
        probs = [1.0] * len(self.models) if probs is None else [float(p) for p in probs]
        if len(probs) != len(self.models) or min(probs) < 0 or sum(probs) <= 0:
            raise ValueError(f'RandomChoiceNoise.probs must be {len(self.models)} non-negative weights, got {probs}.')
        self.probs = torch.tensor(probs, dtype=torch.float64) / sum(probs)

    def sample(self, x, generator=None):
        choice = torch.multinomial(self.probs.to(x.device), x.shape[0], replacement=True, generator=generator)
        noisy, std, has_std = torch.empty_like(x), torch.zeros_like(x), True
        for m, model in enumerate(self.models):
            idx = (choice == m).nonzero().flatten()
            if idx.numel() == 0:
                continue
            result = model(x[idx], generator)
            noisy[idx] = result.noisy
            if result.std is None:
                has_std = False
            else:
                std[idx] = result.std.expand_as(result.noisy)
        return NoiseSample(noisy, std if has_std else None, params={'choice': choice})


@NOISE_REGISTRY.register()
class JPEGNoise(NoiseModel):
    """JPEG compression with the quality drawn per sample.

    Args:
        quality (float | list): JPEG quality, a number or ``[min, max]``. Default: [30, 95].
        backend (str): ``diffjpeg``: BasicSR's batched ``DiffJPEG`` on the batch's device (default);
            ``opencv``: libjpeg through OpenCV with an integer quality, image by image on the CPU (for workers and
            offline data, bit-exact with saved JPEG files).
        differentiable (bool): ``diffjpeg`` only: straight-through rounding, so that gradients pass.
    """

    def __init__(self, quality=(30, 95), backend='diffjpeg', differentiable=False, **kwargs):
        super().__init__(**kwargs)
        self.quality = check_range(quality, 'JPEGNoise.quality')
        if not 1 <= self.quality[0] <= self.quality[1] <= 100:
            raise ValueError(f'JPEGNoise.quality must lie in [1, 100], got {list(self.quality)}.')
        if backend not in ('diffjpeg', 'opencv'):
            raise ValueError(f'JPEGNoise.backend must be diffjpeg or opencv, got {backend!r}.')
        self.backend, self.differentiable = backend, differentiable
        self._jpeg = {}

    def _codec(self, device):
        if device not in self._jpeg:
            from basicsr.utils.diffjpeg import DiffJPEG  # the one BasicSR import of the library, on demand
            self._jpeg[device] = DiffJPEG(differentiable=self.differentiable).to(device).requires_grad_(False)
        return self._jpeg[device]

    def sample(self, x, generator=None):
        check_image_batch(x, channels=3, name='JPEGNoise')
        quality = sample_uniform(self.quality, x.shape[0], generator, x.device).round().to(torch.float32)
        if self.backend == 'opencv':
            out = torch.stack([opencv_jpeg(img, int(q)) for img, q in zip(x, quality.tolist())]).to(x)
        else:
            out = self._codec(x.device)(x.clamp(0, 1).float(), quality=quality.clone()).to(x.dtype)
        return NoiseSample(out.clamp(0, 1), None, params={'quality': quality})


def opencv_jpeg(img, quality):
    """JPEG round trip of one RGB ``(3, H, W)`` tensor in [0, 1] through OpenCV (libjpeg), integer quality."""
    import cv2
    import numpy as np
    bgr = np.round(img.detach().clamp(0, 1).cpu().numpy().transpose(1, 2, 0)[..., ::-1] * 255).astype(np.uint8)
    ok, encoded = cv2.imencode('.jpg', bgr, [int(cv2.IMWRITE_JPEG_QUALITY), int(quality)])
    if not ok:
        raise RuntimeError('JPEG encoding failed.')
    decoded = cv2.imdecode(encoded, cv2.IMREAD_COLOR)[..., ::-1].astype(np.float32) / 255.
    return torch.from_numpy(decoded.transpose(2, 0, 1).copy())
