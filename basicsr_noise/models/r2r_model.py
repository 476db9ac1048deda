import torch
from basicsr.utils.registry import MODEL_REGISTRY

from basicsr_noise.noise import draw_gaussian_noise, noise_std_map
from .base_model import NoiseBaseModel, check_known_keys, method_options

# alpha and noise are required; test_alpha None means alpha
R2R_DEFAULTS = {'alpha': None, 'noise': None, 'test_samples': 0, 'test_alpha': None, 'test_batch': 8, 'val_seed': 0}
NOISE_KEYS = {'awgn': {'type', 'sigma'}, 'nlf': {'type', 'a', 'b'}, 'dataset': {'type'}}


def recorrupt(y, std, alpha, generator=None):
    """R2R recorruption of a noisy batch.

    With ``z ~ N(0, Sigma)`` of the same covariance as the noise of ``y``, the input ``y + alpha * z`` and the
    target ``y - z / alpha`` carry uncorrelated noises of covariance ``(1 + alpha^2) Sigma`` and
    ``(1 + 1 / alpha^2) Sigma`` (Pang et al., CVPR 2021, Eq. 5).

    Args:
        y (Tensor): Noisy batch ``(B, C, H, W)``.
        std (Tensor): Noise standard deviation, broadcastable to ``y``.
        alpha (float): Recorruption strength.
        generator (torch.Generator | None): Generator on ``y``'s device.

    Returns:
        tuple[Tensor, Tensor]: Input and target.
    """
    z = draw_gaussian_noise(std.to(y.dtype), y.shape, generator)
    return y + alpha * z, y - z / alpha


@MODEL_REGISTRY.register()
class R2RModel(NoiseBaseModel):
    """Recorrupted-to-Recorrupted: Unsupervised Deep Learning for Image Denoising (Pang et al., CVPR 2021).

    Trains a denoiser from single noisy images whose noise covariance is known. Each iteration draws
    ``z ~ N(0, Sigma)`` on the device and regresses ``y - z / alpha`` from ``y + alpha * z``. At test time it
    averages the network over ``test_samples`` recorruptions ``y + test_alpha * z`` (0 = one pass on ``y``).

    Options (top-level ``r2r``):
        alpha (float): Recorruption strength. Paper: 0.5 for AWGN, 2 for real sRGB noise.
        noise (dict): The noise covariance. ``{type: awgn, sigma: 25}`` (0-255 scale; a list gives one value
            per channel); ``{type: nlf, a: [...], b: [...]}`` (variance ``a * y + b`` per channel on the [0, 1]
            scale, evaluated on the noisy image as the official code does); ``{type: dataset}`` (each batch
            carries ``noise_std`` (B, C), ``noise_std_map`` (B, C|1, H, W) or ``noise_nlf`` (B, 2, C), on the
            [0, 1] scale).
        test_samples (int): Recorruptions averaged at test time. Paper: 50 for AWGN, 0 for SIDD. Default: 0.
        test_alpha (float): Recorruption strength at test time. Default: ``alpha``.
        test_batch (int): Recorruptions per forward pass at test time. Default: 8.
        val_seed (int): Seed of the test-time recorruptions, reset at every validation. Default: 0.
    """

    def __init__(self, opt):
        super().__init__(opt)
        self.init_noise_generator()
        self.val_generator = torch.Generator(device=self.device)

    @classmethod
    def check_options(cls, opt):
        if not isinstance(opt.get('r2r'), dict):
            raise ValueError('R2RModel needs a top-level "r2r" section with at least alpha and noise.')
        r2r = method_options(opt, 'r2r', R2R_DEFAULTS)
        for key in ('alpha', 'noise'):
            if r2r[key] is None:
                raise ValueError(f'Missing option r2r.{key}.')
        if not float(r2r['alpha']) > 0:
            raise ValueError(f'r2r.alpha must be positive, got {r2r["alpha"]}.')
        noise = r2r['noise']
        noise_type = noise.get('type') if isinstance(noise, dict) else None
        if noise_type not in NOISE_KEYS:
            raise ValueError(f'r2r.noise.type must be one of {sorted(NOISE_KEYS)}, got {noise_type!r}.')
        check_known_keys(noise, 'r2r.noise', NOISE_KEYS[noise_type])
        for key in NOISE_KEYS[noise_type] - {'type'}:
            if key not in noise:
                raise ValueError(f'Missing option r2r.noise.{key} for noise type {noise_type}.')
        if int(r2r['test_samples']) < 0:
            raise ValueError(f'r2r.test_samples must be >= 0, got {r2r["test_samples"]}.')

    def read_options(self, opt):
        r2r = opt['r2r']
        self.alpha = float(r2r['alpha'])
        self.noise_opt = dict(r2r['noise'])
        self.test_samples = int(r2r['test_samples'])
        self.test_alpha = float(self.alpha if r2r['test_alpha'] is None else r2r['test_alpha'])
        self.test_batch = int(r2r['test_batch'])
        self.val_seed = int(r2r['val_seed'])

    def noise_std(self, y, data):
        """Standard deviation of the noise of ``y`` (the covariance R2R must know), broadcastable to ``y``."""
        noise_type = self.noise_opt['type']
        if noise_type == 'awgn':
            sigma = torch.as_tensor(self.noise_opt['sigma'], dtype=torch.float32) / 255.
            return noise_std_map(y, sigma=sigma)
        if noise_type == 'nlf':
            return noise_std_map(y, nlf=(self.noise_opt['a'], self.noise_opt['b']))
        if 'noise_std_map' in data:
            return noise_std_map(y, sigma_map=data['noise_std_map'].to(self.device))
        if 'noise_std' in data:
            return noise_std_map(y, sigma=data['noise_std'].to(self.device))
        if 'noise_nlf' in data:
            nlf = data['noise_nlf'].to(self.device)  # (B, 2, C)
            return noise_std_map(y, nlf=(nlf[:, 0], nlf[:, 1]))
        raise KeyError('r2r.noise.type is dataset, but the batch has none of noise_std, noise_std_map and noise_nlf; '
                       'use a dataset that provides them (e.g. NoisyImageDataset with noise_std_file).')

    def feed_data(self, data):
        y = data['lq'].to(self.device)
        self.lq, self.gt = recorrupt(y, self.noise_std(y, data), self.alpha, self.noise_generator)

    def feed_val_data(self, data):
        self.lq = data['lq'].to(self.device)
        self.val_noise_std = self.noise_std(self.lq, data) if self.test_samples else None
        if 'gt' in data:
            self.gt = data['gt'].to(self.device)

    def test(self):
        if self.test_samples == 0:
            self.output = self.inference(self.lq)
            return
        y, std = self.lq, self.val_noise_std
        total = torch.zeros_like(y)
        for start in range(0, self.test_samples, self.test_batch):
            k = min(self.test_batch, self.test_samples - start)
            y_k = y.repeat(k, 1, 1, 1)
            std_k = std.repeat(k, 1, 1, 1) if std.shape[0] == y.shape[0] else std
            x_k, _ = recorrupt(y_k, std_k, self.test_alpha, self.val_generator)
            total += self.inference(x_k).reshape(k, *y.shape).sum(0)
        self.output = (total / self.test_samples).clamp(0, 1)

    def nondist_validation(self, dataloader, current_iter, tb_logger, save_img):
        self.val_generator.manual_seed(self.val_seed)
        super().nondist_validation(dataloader, current_iter, tb_logger, save_img)
