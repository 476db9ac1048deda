import torch
from basicsr.archs import build_network
from basicsr.utils.registry import ARCH_REGISTRY, MODEL_REGISTRY
from collections import OrderedDict
from os import path as osp

from basicsr_noise.losses.pngan_loss import PNGANRelativisticLoss, check_vgg_weights
from basicsr_noise.noise import build_noise
from basicsr_noise.utils.checkpoint import load_checkpoint_file
from basicsr_noise.utils.denoiser import pick_params
from basicsr_noise.utils.options import plain
from .base_model import method_options
from .gan_base_model import NoiseGANModel

# The authors' input synthesis: AWGN sigma 50 on the 0-255 scale, clipped and quantised (their MATLAB im2uint8).
PNGAN_INPUT_NOISE = {'type': 'AWGNNoise', 'sigma': 50, 'clip': True, 'quantize': True}
PNGAN_DEFAULTS = {'noise_opt': PNGAN_INPUT_NOISE, 'val_seed': 0}


def check_denoiser_fits(net, arch, channels):
    """Run ``net`` (D_d, in eval mode) on a small batch of the data's channels; raise naming ``arch`` if it cannot."""
    x = torch.full((1, channels, 16, 16), 0.5, device=next(net.parameters()).device)
    try:
        with torch.no_grad():
            y = getattr(net, 'denoise', net)(x)
    except Exception as e:  # noqa: BLE001 (any failure here means the arch does not fit the data)
        raise ValueError(f'network_dd ({arch}) cannot denoise the data\'s {channels}-channel images: {e}') from e
    if tuple(y.shape) != tuple(x.shape):
        raise ValueError(f'network_dd ({arch}) maps a {tuple(x.shape)} batch to {tuple(y.shape)}; D_d must return an '
                         'image of its input\'s shape.')


def _image_channels(opt):
    return (opt.get('network_g') or {}).get('num_in_ch', 3)


@MODEL_REGISTRY.register()
class PNGANModel(NoiseGANModel):
    """PNGAN (Cai et al., *Learning to Generate Realistic Noisy Images via Pixel-level Noise-aware Adversarial
    Training*, NeurIPS 2021): a generator that turns a synthetic noisy image into a realistic one, trained on
    paired real noisy / clean images.

    ``feed_data`` draws the synthetic input ``I_syn = noise_opt(clean)`` on the device (default: AWGN sigma 50,
    clipped and quantised, as the authors); the generator ``network_g`` (``SMNet``) makes ``I_fn = G(I_syn)``. Its
    losses (Eq. 13): ``pixel_opt`` (image-domain alignment, L1) and ``perceptual_opt`` (``PNGANPerceptualLoss``)
    between ``D_d(I_fn)`` and ``D_d(I_rn)``, where ``D_d`` (``network_dd``, loaded from ``path.pretrain_network_dd``)
    is a frozen denoiser through which gradients reach G; and ``gan_opt``, the pixel-level relativistic loss
    (``PNGANRelativisticLoss``) on the dense discriminator ``network_d`` (any BasicSR ``GANLoss`` type works too,
    for the ablations). ``D_d`` may be any registered arch: BasicSR's ``RIDNet`` as the paper, or a denoiser this
    package trained from noisy images alone (R2R's ``R2RDnCNN``, NTGAN's ``NTGANNet``), which makes the whole
    chain free of supervised pre-training.

    Validation: generated images from the validation pairs' clean images (input noise seeded ``pngan.val_seed``
    at every validation) against the real noisy ones; the visuals are ``result`` (generated), ``gt`` (real noisy)
    and ``clean``, so AKLD/KS (``calculate_akld``, ``calculate_ks``) score the generated noise.

    Options: ``network_dd`` with ``path.pretrain_network_dd`` (required for training), ``path.param_key_dd``
    (default: ``params_ema`` when present, else ``params``), ``path.strict_load_dd`` (true); section ``pngan``:
    ``noise_opt`` (the input synthesis), ``val_seed`` (0). Checkpoints of ``net_g`` store the input synthesis
    (``meta.input_noise``), so that ``GeneratorNoise`` and ``basicsr-noise generate`` need only the checkpoint.
    """
    frozen_networks = ('network_dd', )
    batch_keys = ('gt', 'lq')
    batch_keys_hint = ('PNGANModel trains on paired real noisy / clean images: give the dataset dataroot_gt (clean) '
                       'beside dataroot_lq (real noisy), e.g. the pairs of `basicsr-noise prepare sidd`.')

    @classmethod
    def check_options(cls, opt):
        super().check_options(opt)
        pngan = method_options(opt, 'pngan', PNGAN_DEFAULTS)
        try:
            build_noise(pngan['noise_opt'])
        except (ValueError, KeyError) as e:
            raise ValueError(f'pngan.noise_opt: {e}') from e
        if not opt.get('is_train', True) or not isinstance(opt.get('train'), dict):
            return  # a test-time option file: the generator alone
        if not isinstance(opt.get('network_dd'), dict):
            raise ValueError('PNGANModel needs network_dd: the frozen denoiser D_d of the image-domain alignment '
                             '(e.g. {type: RIDNet, ...}, or a denoiser trained by R2R, DBSN or NTGAN).')
        dd_path = (opt.get('path') or {}).get('pretrain_network_dd')
        if not dd_path:
            raise ValueError('PNGANModel needs path.pretrain_network_dd: the checkpoint of the frozen denoiser D_d '
                             '(network_dd); an untrained D_d aligns nothing.')
        if not osp.isfile(dd_path):
            raise FileNotFoundError(f'path.pretrain_network_dd {dd_path} does not exist.')
        if not isinstance(opt['train'].get('pixel_opt'), dict):
            raise ValueError('PNGANModel needs train.pixel_opt: the image-domain alignment (L1Loss on D_d outputs).')
        perceptual = opt['train'].get('perceptual_opt') or {}
        if perceptual.get('type') == 'PNGANPerceptualLoss':
            try:
                check_vgg_weights(perceptual.get('vgg_weights'), perceptual.get('vgg_type', 'vgg19'))
            except ValueError as e:
                raise ValueError(f'train.perceptual_opt.vgg_weights: {e}') from e
            except FileNotFoundError as e:
                raise FileNotFoundError(f'train.perceptual_opt.vgg_weights: {e}') from e

    @classmethod
    def check_networks(cls, opt):
        """Pre-flight: ``network_dd`` (not loaded) denoises a small batch of the data's channels."""
        if not isinstance(opt.get('network_dd'), dict) or not isinstance(opt.get('train'), dict):
            return
        dd_opt = dict(opt['network_dd'])
        arch = dd_opt.pop('type', None)
        # the registry, not build_network: its log line would set up BasicSR's logger before the log file exists
        try:
            net = ARCH_REGISTRY.get(arch)(**dd_opt).eval()
        except Exception as e:  # noqa: BLE001 (bad arch options)
            raise ValueError(f'network_dd ({arch}) cannot be built: {e}') from e
        check_denoiser_fits(net, arch, _image_channels(opt))

    def read_options(self, opt):
        self.noise = build_noise(opt['pngan']['noise_opt'])
        self.val_seed = int(opt['pngan']['val_seed'])

    def __init__(self, opt):
        super().__init__(opt)
        self.init_noise_generator()

    def init_training_settings(self):
        self.net_dd = self.build_frozen_denoiser()
        super().init_training_settings()
        self.relativistic = isinstance(self.cri_gan, PNGANRelativisticLoss)

    def build_frozen_denoiser(self):
        """``D_d``: built from ``network_dd``, loaded, frozen, in eval mode, not wrapped for DDP (nothing trains)."""
        path_opt = self.opt['path']
        net = build_network(dict(self.opt['network_dd']))
        load_path = path_opt['pretrain_network_dd']
        state = pick_params(load_checkpoint_file(load_path), load_path, path_opt.get('param_key_dd'))
        net.load_state_dict(state, strict=path_opt.get('strict_load_dd', True))
        net = net.to(self.device).eval().requires_grad_(False)
        check_denoiser_fits(net, self.opt['network_dd']['type'], _image_channels(self.opt))
        self.denoise_dd = getattr(net, 'denoise', net)
        return net

    # ------------------------------------------------------------------------------------------ data
    def feed_data(self, data):
        self.check_batch_keys(data)
        self.gt = data['gt'].to(self.device)  # the clean image
        self.real = data['lq'].to(self.device)  # its real noisy version
        with torch.no_grad():
            self.lq = self.noise(self.gt, self.noise_generator).noisy
            if hasattr(self, 'net_dd'):
                self.real_dd = self.denoise_dd(self.real)

    def feed_val_data(self, data):
        self.gt = data['gt'].to(self.device)
        if 'lq' in data:
            self.real = data['lq'].to(self.device)
        with torch.no_grad():
            self.lq = self.noise(self.gt, self.val_generator).noisy

    def nondist_validation(self, dataloader, current_iter, tb_logger, save_img):
        self.val_generator = torch.Generator(device=self.device).manual_seed(self.val_seed)  # same inputs each time
        super().nondist_validation(dataloader, current_iter, tb_logger, save_img)

    def get_current_visuals(self):
        visuals = OrderedDict(result=self.output.detach().cpu(), clean=self.gt.detach().cpu())
        if hasattr(self, 'real'):
            visuals['gt'] = self.real.detach().cpu()
        return visuals

    # ------------------------------------------------------------------------------------------ the steps
    def pixel_pair(self):
        """The image-domain alignment compares the frozen denoiser's outputs: ``D_d(I_fn)``, ``D_d(I_rn)``."""
        return self.denoise_dd(self.output), self.real_dd

    def real_image(self):
        return self.real

    def g_gan_loss(self):
        if not self.relativistic:
            return super().g_gan_loss()
        with torch.no_grad():
            real_logits = self.net_d(self.real)
        real_term, fake_term = self.cri_gan(real_logits, self.net_d(self.output), is_disc=False)
        return real_term + fake_term

    def d_losses(self):
        if not self.relativistic:
            return super().d_losses()
        real_logits, fake_logits = self.d_scores()
        real_term, fake_term = self.cri_gan(real_logits, fake_logits, is_disc=True)
        return OrderedDict(real=real_term, fake=fake_term, out_real=real_logits.detach().mean(),
                           out_fake=fake_logits.detach().mean())

    def _clear_batch(self):
        super()._clear_batch()
        for attr in ('real', 'real_dd'):
            if hasattr(self, attr):
                delattr(self, attr)

    # ------------------------------------------------------------------------------------------ checkpoints
    def checkpoint_meta(self, net_label):
        meta = super().checkpoint_meta(net_label)
        if net_label == 'net_g':
            meta['input_noise'] = plain(self.opt['pngan']['noise_opt'])
        return meta
