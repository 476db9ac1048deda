import math
import torch
from basicsr.archs import build_network
from basicsr.utils.registry import MODEL_REGISTRY
from collections import OrderedDict

from basicsr_noise.utils.bayes_fusion import bayes_fusion
from .base_model import NoiseBaseModel, method_options
from .dbsn_model import NOISE_MODELS, dbsn_covariances, dbsn_noise_covariance

# the official settings
DISTILL_DEFAULTS = {
    'noise_model': 'awgn',
    'gamma': 1.0,
    'noisy_ratio': 0.125,
    'noisy_weight': 0.1,
    'clean_weight': 1.0,
    'kappa': [0.9, 1.1]
}
TEACHER = ('teacher', 'teacher_sigma_mu', 'teacher_noise')


def sample_noise(cov, shape, generator):
    """Zero-mean Gaussian noise of ``shape`` (B, C, H, W) with per-channel variances (B, C, h, w) broadcastable to
    it, or one colour covariance per image (B, 1, 1, 3, 3)."""
    eps = torch.randn(shape, generator=generator, device=cov.device, dtype=cov.dtype)
    if cov.dim() == 4:
        return eps * cov.clamp_min(0).sqrt()
    evals, evecs = torch.linalg.eigh(cov[:, 0, 0])
    root = evecs * evals.clamp_min(0).sqrt()[:, None, :]
    return torch.einsum('bij,bjhw->bihw', root, eps)


@MODEL_REGISTRY.register()
class DBSNDistillModel(NoiseBaseModel):
    """Knowledge distillation of DBSN (Wu et al., ECCV 2020) into any BasicSR arch (the paper uses MWCNN).

    A frozen D-BSN teacher (``network_teacher``, ``network_teacher_sigma_mu``, ``network_teacher_noise`` loaded
    through ``path.pretrain_network_teacher*``) gives two kinds of training pairs per batch of
    ``UnpairedCleanNoisyDataset``: for the first ``noisy_ratio`` of the samples, their noisy image with the
    teacher's Bayes-fused estimate as target; for the others, their clean image with noise drawn from the learned
    noise model (the noise estimator applied to the clean image, scaled by one ``kappa ~ U(kappa)`` per batch).
    Loss: ``noisy_weight * pixel(f(y), x*) + clean_weight * pixel(f(x + n), x)``.

    Options (top-level ``distill``): ``noise_model`` (as in ``DBSNModel``), ``gamma``, ``noisy_ratio`` (0.125),
    ``noisy_weight`` (0.1), ``clean_weight`` (1.0), ``kappa`` ([0.9, 1.1]) — the official settings.
    """
    frozen_networks = ('network_teacher', 'network_teacher_sigma_mu', 'network_teacher_noise')

    def __init__(self, opt):
        super().__init__(opt)
        teacher_opt = dict(opt['network_teacher'], return_feature=True)
        nets = []
        for name, net_opt in zip(TEACHER, (teacher_opt, opt['network_teacher_sigma_mu'], opt['network_teacher_noise'])):
            net = build_network(net_opt).to(self.device)
            path = opt['path'].get(f'pretrain_network_{name}')
            if path is None:
                raise ValueError(f'DBSNDistillModel needs path.pretrain_network_{name} (a trained DBSN).')
            self.load_network(net, path, True, opt['path'].get(f'param_key_{name}', 'params'))
            nets.append(net.eval().requires_grad_(False))
        self.teacher, self.teacher_sigma_mu, self.teacher_noise = nets
        self.init_noise_generator()

    @classmethod
    def check_options(cls, opt):
        distill = method_options(opt, 'distill', DISTILL_DEFAULTS)
        if distill['noise_model'] not in NOISE_MODELS:
            raise ValueError(f'distill.noise_model must be one of {NOISE_MODELS}, got {distill["noise_model"]!r}.')
        if not 0 <= float(distill['noisy_ratio']) <= 1:
            raise ValueError('distill.noisy_ratio must lie in [0, 1].')
        for key in ('network_teacher', 'network_teacher_sigma_mu', 'network_teacher_noise'):
            if key not in opt:
                raise ValueError(f'DBSNDistillModel needs {key} (the trained DBSN networks).')

    def read_options(self, opt):
        distill = opt['distill']
        self.noise_model, self.gamma = distill['noise_model'], float(distill['gamma'])
        self.noisy_ratio, self.noisy_weight = float(distill['noisy_ratio']), float(distill['noisy_weight'])
        self.clean_weight = float(distill['clean_weight'])
        self.kappa = tuple(float(k) for k in distill['kappa'])

    def feed_data(self, data):
        """Build the training batch (validation and testing go through :meth:`feed_val_data`)."""
        lq, gt = data['lq'].to(self.device), data['gt'].to(self.device)
        n_noisy = math.ceil(lq.shape[0] * self.noisy_ratio)
        with torch.no_grad():
            y = lq[:n_noisy]
            mu, feat = self.teacher(y)
            cov_mu, cov_n = dbsn_covariances(self.noise_model, self.teacher_sigma_mu, self.teacher_noise, y, mu, feat)
            pseudo = bayes_fusion(y, mu, cov_mu, cov_n, self.gamma)
            x = gt[n_noisy:]
            # the noise estimator applied to the clean image, as the official code does (x stands in for mu too)
            cov_n_clean = dbsn_noise_covariance(self.noise_model, self.teacher_noise, x, x)
            u = torch.rand((), generator=self.noise_generator, device=self.device)
            kappa = self.kappa[0] + (self.kappa[1] - self.kappa[0]) * u
            noisy_clean = x + kappa * sample_noise(cov_n_clean, x.shape, self.noise_generator)
        self.n_noisy = n_noisy
        self.lq = torch.cat([y, noisy_clean])
        self.gt = torch.cat([pseudo, x])

    def feed_val_data(self, data):
        self.lq = data['lq'].to(self.device)
        if 'gt' in data:
            self.gt = data['gt'].to(self.device)

    def optimize_parameters(self, current_iter):
        self.optimizer_g.zero_grad(set_to_none=True)
        with self.autocast():
            self.output = self.net_g(self.lq)
            n = self.n_noisy
            loss_dict = OrderedDict()
            loss = 0
            if n > 0:
                loss_dict['l_noisy'] = self.cri_pix(self.output[:n].float(), self.gt[:n])
                loss = loss + self.noisy_weight * loss_dict['l_noisy']
            if n < self.lq.shape[0]:
                loss_dict['l_clean'] = self.cri_pix(self.output[n:].float(), self.gt[n:])
                loss = loss + self.clean_weight * loss_dict['l_clean']
        self.backward_and_step(loss, self.optimizer_g)
        self.log_dict = self.reduce_loss_dict(loss_dict)
        if self.ema_decay > 0:
            self.model_ema(decay=self.ema_decay)
