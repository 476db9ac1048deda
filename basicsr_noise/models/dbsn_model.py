import torch
from basicsr.archs import build_network
from basicsr.losses import build_loss
from basicsr.utils.registry import MODEL_REGISTRY
from collections import OrderedDict
from torch.nn import functional as F

from basicsr_noise.utils.bayes_fusion import bayes_fusion
from .base_model import NoiseBaseModel, method_options

DBSN_DEFAULTS = {'noise_model': 'awgn', 'stage': 'joint', 'gamma': 1.0}
DBSN_NETWORKS = ('network_sigma_mu', 'network_noise')
NOISE_MODELS = ('awgn', 'hetero', 'multivariate')
STAGES = ('mu', 'sigma', 'joint')
TRIU = ((0, 0), (0, 1), (0, 2), (1, 1), (1, 2), (2, 2))


def upper_triangular(values):
    """``(B, 6, H, W)`` to upper-triangular 3x3 matrices ``(B, H, W, 3, 3)``."""
    b, _, h, w = values.shape
    mat = values.new_zeros(b, h, w, 3, 3)
    for k, (i, j) in enumerate(TRIU):
        mat[..., i, j] = values[:, k]
    return mat


# The release's map from CNN_est's output to a noise std: softplus(est - 4) + 1e-3. The shift makes a zero output a
# small std (softplus(-4) = 0.018, about 4.6 / 255), the floor keeps the variance positive.
NOISE_STD_SHIFT, NOISE_STD_FLOOR = 4.0, 1e-3


def dbsn_noise_covariance(noise_model, net_noise, y, mu):
    """DBSN's noise covariance from CNN_est: variances ``(B, C, 1|H, 1|W)`` or matrices ``(B, 1, 1, 3, 3)``."""
    if noise_model == 'multivariate':
        p = upper_triangular(net_noise(y))
        return (p @ p.transpose(-1, -2)).mean((1, 2), keepdim=True)
    est = net_noise(mu if noise_model == 'hetero' else y)
    if noise_model == 'awgn':
        est = est.mean((2, 3), keepdim=True)
    return (F.softplus(est - NOISE_STD_SHIFT) + NOISE_STD_FLOOR)**2


def dbsn_covariances(noise_model, net_sigma_mu, net_noise, y, mu, feat):
    """DBSN's ``Sigma_mu`` (from the sigma_mu head) and ``Sigma_n`` (:func:`dbsn_noise_covariance`).

    ``Sigma_mu`` is per-channel variances ``(B, C, H, W)``, or for the multivariate model matrices
    ``(B, H, W, 3, 3)`` averaged over the image.
    """
    sig = net_sigma_mu(feat)
    if noise_model == 'multivariate':
        lower = upper_triangular(sig)
        cov_mu = (lower @ lower.transpose(-1, -2)).mean((1, 2), keepdim=True).expand(-1, *y.shape[-2:], -1, -1)
    else:
        cov_mu = sig**2
    return cov_mu, dbsn_noise_covariance(noise_model, net_noise, y, mu)


@MODEL_REGISTRY.register()
class DBSNModel(NoiseBaseModel):
    """Unpaired Learning of Deep Image Denoising (Wu et al., ECCV 2020): D-BSN with its noise model.

    ``network_g`` is the blind-spot network (``DBSNNet``), ``network_sigma_mu`` the head that predicts the
    uncertainty of its estimate mu from its feature, ``network_noise`` the noise estimator (CNN_est). Options
    (top-level ``dbsn``): ``noise_model`` (``awgn``: one noise level per image and channel; ``hetero``: per-pixel
    levels estimated from mu; ``multivariate``: one full 3x3 colour covariance per image), ``stage`` (``mu``:
    blind-spot pre-training with ``pixel_opt`` between mu and the noisy input; ``sigma``: the two heads with mu
    frozen; ``joint``: everything, both with ``likelihood_opt``), and ``gamma`` of the Bayes fusion.

    Testing fuses mu with the noisy image by Bayes' rule; validation reports metrics of the fused estimate
    (``result``) and, prefixed ``mu_``, of the raw D-BSN output. With ``val.tile_size`` the whole fused estimate is
    computed tile by tile (the awgn and multivariate noise levels are then estimated per tile, not per image).
    """

    def __init__(self, opt):
        super().__init__(opt)
        self._build_heads()  # test mode builds them here; training built them in init_training_settings
        self.extra_results = ('mu', )

    @classmethod
    def check_options(cls, opt):
        dbsn = method_options(opt, 'dbsn', DBSN_DEFAULTS)
        if dbsn['noise_model'] not in NOISE_MODELS:
            raise ValueError(f'dbsn.noise_model must be one of {NOISE_MODELS}, got {dbsn["noise_model"]!r}.')
        if dbsn['stage'] not in STAGES:
            raise ValueError(f'dbsn.stage must be one of {STAGES}, got {dbsn["stage"]!r}.')
        for key in DBSN_NETWORKS:  # every noise model needs both: CNN_est and the uncertainty head of mu
            if not isinstance(opt.get(key), dict):
                raise ValueError(f'DBSNModel needs {key} (noise model {dbsn["noise_model"]}).')
        channels = (opt.get('network_g') or {}).get('num_in_ch', 1)
        multivariate = dbsn['noise_model'] == 'multivariate'
        if multivariate and channels != 3:
            raise ValueError('dbsn.noise_model multivariate needs colour images (network_g.num_in_ch: 3).')
        expected = 6 if multivariate else channels
        for key in DBSN_NETWORKS:
            if opt[key].get('num_out', 1) != expected:
                raise ValueError(f'{key}.num_out must be {expected} for {channels}-channel images and noise model '
                                 f'{dbsn["noise_model"]}.')

    def read_options(self, opt):
        dbsn = opt['dbsn']
        self.noise_model, self.stage, self.gamma = dbsn['noise_model'], dbsn['stage'], float(dbsn['gamma'])
        opt['network_g'] = dict(opt['network_g'], return_feature=True)

    # ----------------------------------------------------------------------------- networks and optimisation
    def init_training_settings(self):
        self._build_heads()
        self.setup_amp()
        self.net_g.train()
        train_opt = self.opt['train']
        self.ema_decay = train_opt.get('ema_decay', 0)
        if self.ema_decay > 0:
            self.net_g_ema = build_network(self.opt['network_g']).to(self.device)
            self.model_ema(0)
            self.net_g_ema.eval()
        self.cri_pix = build_loss(train_opt['pixel_opt']).to(self.device) if train_opt.get('pixel_opt') else None
        self.cri_perceptual = None
        self.setup_optimizers()
        self.setup_schedulers()

    def _build_heads(self):
        if not hasattr(self, 'net_sigma_mu'):
            self.net_sigma_mu = self._extra_network('sigma_mu')
            self.net_noise = self._extra_network('noise')

    def _extra_network(self, name):
        net = self.model_to_device(build_network(self.opt[f'network_{name}']))
        path = self.opt['path'].get(f'pretrain_network_{name}')
        if path is not None:
            self.load_network(net, path, self.opt['path'].get(f'strict_load_{name}', True),
                              self.opt['path'].get(f'param_key_{name}', 'params'))
        return net

    def setup_optimizers(self):
        train_opt = self.opt['train']
        nets = {
            'mu': [self.net_g],
            'sigma': [self.net_sigma_mu, self.net_noise],
            'joint': [self.net_g, self.net_sigma_mu, self.net_noise]
        }[self.stage]
        params = [p for net in nets for p in net.parameters() if p.requires_grad]
        optim_opt = dict(train_opt['optim_g'])
        self.optimizer_g = self.get_optimizer(optim_opt.pop('type'), params, **optim_opt)
        self.optimizers.append(self.optimizer_g)
        self.cri_likelihood = build_loss(train_opt['likelihood_opt']).to(self.device) \
            if train_opt.get('likelihood_opt') else None
        if self.stage == 'mu' and self.cri_pix is None:
            raise ValueError('dbsn.stage mu needs train.pixel_opt (MSE between mu and the noisy image).')
        if self.stage != 'mu' and self.cri_likelihood is None:
            raise ValueError(f'dbsn.stage {self.stage} needs train.likelihood_opt (DBSNLikelihoodLoss).')

    def covariances(self, y, mu, feat):
        """``Sigma_mu`` and ``Sigma_n`` of this model (see :func:`dbsn_covariances`)."""
        return dbsn_covariances(self.noise_model, self.net_sigma_mu, self.net_noise, y, mu, feat)

    def optimize_parameters(self, current_iter):
        self.optimizer_g.zero_grad(set_to_none=True)
        loss_dict = OrderedDict()
        with self.autocast():
            mu, feat = self.net_g(self.lq)
            if self.stage == 'mu':
                loss = self.cri_pix(mu.float(), self.lq)
                loss_dict['l_pix'] = loss
            else:
                if self.stage == 'sigma':
                    mu, feat = mu.detach(), feat.detach()
                cov_mu, cov_n = self.covariances(self.lq, mu.float(), feat.float())
                loss = self.cri_likelihood(self.lq, mu.float(), cov_mu, cov_n)
                loss_dict['l_nll'] = loss
        self.backward_and_step(loss, self.optimizer_g)
        self.log_dict = self.reduce_loss_dict(loss_dict)
        if self.ema_decay > 0:
            self.model_ema(decay=self.ema_decay)

    # ----------------------------------------------------------------------------- testing
    def fused_and_mu(self, y):
        """The Bayes-fused estimate and mu, concatenated on channels (one output, so that it can be tiled)."""
        mu, feat = self.test_network()(y)
        cov_mu, cov_n = self.covariances(y, mu, feat)
        return torch.cat([bayes_fusion(y, mu, cov_mu, cov_n, self.gamma), mu], 1)

    def test(self):
        nets = (self.test_network(), self.net_sigma_mu, self.net_noise)
        modes = [net.training for net in nets]
        for net in nets:
            net.eval()
        self.output, self.output_mu = self.tiled(self.fused_and_mu, self.lq).chunk(2, dim=1)
        for net, mode in zip(nets, modes):
            net.train(mode)

    def get_current_visuals(self):
        out = super().get_current_visuals()
        if hasattr(self, 'output_mu'):
            out['mu'] = self.output_mu.detach().cpu()
        return out

    def checkpoint_meta(self, net_label):
        """The stored ``network_g`` is the plain D-BSN (its ``mu``): the model's own ``return_feature`` is dropped, so
        that ``infer --ckpt`` and ``NetworkDenoiser`` get an image from the checkpoint alone."""
        meta = super().checkpoint_meta(net_label)
        if 'network_g' in meta:
            meta['network_g'] = {k: v for k, v in meta['network_g'].items() if k != 'return_feature'}
        return meta

    def save(self, epoch, current_iter):
        super().save(epoch, current_iter)
        self.save_network(self.net_sigma_mu, 'net_sigma_mu', current_iter)
        self.save_network(self.net_noise, 'net_noise', current_iter)

    def _clear_batch(self):
        super()._clear_batch()
        if hasattr(self, 'output_mu'):
            del self.output_mu
