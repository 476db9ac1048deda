import torch
from basicsr.utils.registry import MODEL_REGISTRY

from basicsr_noise.noise import build_noise
from .base_model import method_options
from .gan_base_model import NoiseGANModel

NTGAN_DEFAULTS = {'noise_opt': None, 'noise_map': 'std', 'zero_level_prob': 0.5, 'target': 'noisier2noise',
                  'd_condition': 'noise_map'}
NOISE_MAPS = ('std', 'official')
TARGETS = ('noisier2noise', 'noisy')
D_CONDITIONS = ('noise_map', 'input')


@MODEL_REGISTRY.register()
class NTGANModel(NoiseGANModel):
    """NTGAN (Zhao, Lun and Lam, *Learning Blind Image Denoising without Clean Reference*, BMVC 2020): blind
    denoising learnt from noisy images alone, as noise transference whose target level is zero.

    The release has no training code; this recipe is a reconstruction from the paper's framework (docs/ntgan.md).
    From each noisy training patch ``o`` the noise simulator (``ntgan.noise_opt``, batched on the device in
    ``feed_data``) draws two independent noises of the simulator's prior: ``n1``, making the input ``x = o + n1``,
    and ``n2`` with its level map ``M2`` (set to zero, with ``n2``, with probability ``zero_level_prob``). The network
    returns ``z = s + M2 * eps``; its structure ``s`` is trained against

    * ``o - n1`` (``target: noisier2noise``, default): when the simulated noise and the real noise of ``o`` are
      exchangeable, ``E[o - n1 | x] = E[clean | x]``, so ``s`` regresses the clean image. Neither the identity
      (``s = x`` is off by ``2 n1``) nor ``s = o`` is a minimiser;
    * or ``o`` (``noisy``: Noisy-As-Clean, which removes only the added noise; for comparison).

    The adversarial term, with ``network_d`` conditioned on the level (``d_condition: noise_map``: the image and
    ``M2``, 6 channels; ``input``: the image and ``x``), judges real ``o + n2`` against ``z + n_a``, where ``n_a`` is
    a fresh simulator draw on ``s``, the stand-in for the unknown noise of ``o``: the fake matches the real only if
    ``s`` is a sharp clean image and the network's noise skip, shaped through its noise-level branch, looks like
    simulator noise of level ``M2``. A zero residual (``s = x``) leaves the fake noisier than the real by ``n1 +
    n_a``, so it is no optimum either. Test: level zero (``NTGANNet.denoise``).

    Options (top-level ``ntgan``): ``noise_opt`` (required: a noise model giving a noise map, e.g.
    ``CRFCameraNoise``), ``noise_map`` (``std``: the true per-pixel std of the simulated noise; ``official``: NTGAN's
    ``sqrt(sigma_s L + sigma_c)``), ``zero_level_prob`` (0.5), ``target``, ``d_condition``.
    """

    @classmethod
    def check_options(cls, opt):
        super().check_options(opt)
        ntgan = method_options(opt, 'ntgan', NTGAN_DEFAULTS)
        for key, allowed in (('noise_map', NOISE_MAPS), ('target', TARGETS), ('d_condition', D_CONDITIONS)):
            if ntgan[key] not in allowed:
                raise ValueError(f'ntgan.{key} must be one of {allowed}, got {ntgan[key]!r}.')
        if not 0 <= float(ntgan['zero_level_prob']) <= 1:
            raise ValueError(f'ntgan.zero_level_prob must lie in [0, 1], got {ntgan["zero_level_prob"]}.')
        if 'train' in opt and not isinstance(opt['train'].get('pixel_opt'), dict):
            raise ValueError('NTGANModel needs train.pixel_opt (the structure loss).')
        if not isinstance(ntgan['noise_opt'], dict):
            raise ValueError('ntgan.noise_opt is missing: the noise simulator (e.g. {type: CRFCameraNoise, ...}).')
        try:
            build_noise(ntgan['noise_opt'])
        except (ValueError, KeyError, FileNotFoundError) as e:
            raise ValueError(f'ntgan.noise_opt: {e}') from e
        channels = (opt.get('network_g') or {}).get('num_in_ch', 3)
        expected_d = 2 * channels
        if (opt.get('network_d') or {}).get('num_in_ch', 6) != expected_d:
            raise ValueError(f'network_d.num_in_ch must be {expected_d}: the image and its condition '
                             f'({ntgan["d_condition"]}), {channels} channels each.')
        for phase, dataset in (opt.get('datasets') or {}).items():
            if dataset.get('color', 'rgb') == 'gray' and channels == 3:
                raise ValueError(f'datasets.{phase}.color is gray, but network_g takes {channels}-channel images '
                                 '(NTGAN simulates colour camera noise: use RGB images).')
            size = dataset.get('gt_size')
            if phase == 'train' and size is not None and int(size) % 4:
                raise ValueError(f'datasets.train.gt_size must be a multiple of 4 (the network pools twice and '
                                 f'upsamples by 4), got {size}.')

    def read_options(self, opt):
        ntgan = opt['ntgan']
        self.noise = build_noise(ntgan['noise_opt'])
        self.noise_map, self.target_kind = ntgan['noise_map'], ntgan['target']
        self.zero_level_prob, self.d_condition = float(ntgan['zero_level_prob']), ntgan['d_condition']

    def __init__(self, opt):
        super().__init__(opt)
        self.init_noise_generator()

    # ------------------------------------------------------------------------------------------ training pairs
    def level_map(self, sample):
        """The noise-level map of a simulated sample, in the ``noise_map`` definition."""
        level = sample.std if self.noise_map == 'std' else sample.params.get('noise_map_official')
        if level is None:
            raise ValueError(f'ntgan.noise_opt ({type(self.noise).__name__}) gives no {self.noise_map} noise map.')
        return level.expand_as(sample.noisy)

    def simulate(self, image):
        """A simulator draw on ``image``: the noise and its level map."""
        sample = self.noise(image, self.noise_generator)
        return sample.noisy - image, self.level_map(sample)

    def feed_data(self, data):
        o = data['lq'].to(self.device)
        with torch.no_grad():
            n1, _ = self.simulate(o)
            n2, level = self.simulate(o)
            keep = torch.rand((o.shape[0], 1, 1, 1), generator=self.noise_generator, device=self.device)
            keep = (keep >= self.zero_level_prob).to(o.dtype)  # zero target level with probability zero_level_prob
            self.lq, self.level = o + n1, level * keep
            self.real = o + n2 * keep
            self.target = o - n1 if self.target_kind == 'noisier2noise' else o

    def feed_val_data(self, data):
        self.lq = data['lq'].to(self.device)
        if 'gt' in data:
            self.gt = data['gt'].to(self.device)

    # ------------------------------------------------------------------------------------------ the steps
    def generate(self):
        noise = self.level * torch.randn(self.level.shape, generator=self.noise_generator, device=self.device,
                                         dtype=self.level.dtype)
        self.output = self.net_g(self.lq, noise=noise)
        self.structure = self.output - noise
        with torch.no_grad():  # the stand-in for the real image's own noise
            structure = self.structure.detach().float()
            ambient, _ = self.simulate(structure.clamp(0, 1))
        self.fake = self.output + ambient.to(self.output.dtype)

    def pixel_pair(self):
        return self.structure, self.target

    def real_image(self):
        return self.real

    def fake_image(self):
        return self.fake

    def d_input(self, image, real):
        condition = self.level if self.d_condition == 'noise_map' else self.lq
        return torch.cat([image, condition.to(image.dtype)], 1)

    def _clear_batch(self):
        super()._clear_batch()
        for attr in ('level', 'real', 'target', 'structure', 'fake'):
            if hasattr(self, attr):
                delattr(self, attr)
