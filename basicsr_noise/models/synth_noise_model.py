import math
import torch
from basicsr.utils.registry import MODEL_REGISTRY

from basicsr_noise.noise import build_noise
from .base_model import NoiseBaseModel, method_options

MIXING_DEFAULTS = {'ratio': 0.0, 'noise_opt': None}


@MODEL_REGISTRY.register()
class SynthNoiseDenoiserModel(NoiseBaseModel):
    """Supervised denoising with synthetic noise, for any BasicSR arch.

    Batches that carry no ``lq`` (``SyntheticNoiseDataset`` with ``synthesize_on_device: true``) get their noise
    here, in ``feed_data``, batched on the model's device, from the training set's ``noise_opt`` (or a top-level
    ``noise_opt``), with a generator seeded ``manual_seed + rank`` whose state is part of the training state.
    Batches with ``lq`` (noise drawn in the workers, or real pairs) are used as they are.

    **Mixing real and generated pairs** (section ``mixing``, PNGAN's fine-tuning phase and NoiseTransfer's
    downstream use): ``ratio`` of each training batch is replaced by pairs made in ``feed_data`` from the batch's
    ``clean`` images (``NoisyImageDataset``'s ``dataroot_clean``, e.g. another dataset) with ``noise_opt`` (any noise
    model: ``{type: GeneratorNoise, checkpoint: G.pth}`` for a trained generator, AWGN, a camera model, ...). A batch
    of ``B`` takes ``floor(ratio * B + u)`` generated pairs (``u ~ U(0, 1)``, so the share is ``ratio`` on average
    and within one pair in every batch), at positions drawn with the model's seeded generator; generated noisy images
    are clipped to [0, 1]. Logged as ``out_generated`` (the batch's share). Fine-tuning starts from
    ``path.pretrain_network_g`` as for any BasicSR model.
    """

    @classmethod
    def check_options(cls, opt):
        super().check_options(opt)
        mixing = method_options(opt, 'mixing', MIXING_DEFAULTS)
        ratio = float(mixing['ratio'])
        if not 0 <= ratio <= 1:
            raise ValueError(f'mixing.ratio must be in [0, 1] (the share of generated pairs per batch), got {ratio}.')
        if ratio > 0:
            if not isinstance(mixing['noise_opt'], dict):
                raise ValueError('mixing.noise_opt is required when mixing.ratio > 0: the noise model (e.g. '
                                 '{type: GeneratorNoise, checkpoint: net_g.pth}) that makes the generated pairs.')
            train_set = (opt.get('datasets') or {}).get('train') or {}
            if opt.get('is_train', True) and train_set and not train_set.get('dataroot_clean'):
                raise ValueError('mixing.ratio > 0 needs datasets.train.dataroot_clean: the clean images the '
                                 'generated pairs are made from (NoisyImageDataset).')

    def read_options(self, opt):
        mixing = opt['mixing']
        self.mix_ratio = float(mixing['ratio'])
        self.mix_noise = build_noise(mixing['noise_opt']) if self.mix_ratio > 0 else None

    def __init__(self, opt):
        super().__init__(opt)
        train_set = (opt.get('datasets') or {}).get('train') or {}
        noise_opt = opt.get('noise_opt') or train_set.get('noise_opt')
        self.noise = build_noise(noise_opt) if noise_opt else None
        self.init_noise_generator()

    def feed_data(self, data):
        self.gt = data['gt'].to(self.device)
        if 'lq' in data:
            self.lq = data['lq'].to(self.device)
        elif self.noise is None:
            raise KeyError('The batch has no lq and the options give no noise_opt to synthesise it from.')
        else:
            self.lq = self.noise(self.gt, self.noise_generator).noisy
        if self.mix_noise is not None and self.is_train and 'clean' in data:
            self.mix_generated(data['clean'].to(self.device))

    def mix_generated(self, clean):
        """Replace ``floor(ratio * B + u)`` pairs of the batch by pairs generated from ``clean``."""
        batch = self.gt.shape[0]
        u = torch.rand(1, generator=self.noise_generator, device=self.device).item()
        count = min(batch, int(math.floor(self.mix_ratio * batch + u)))
        self.generated_share = count / batch
        if count == 0:
            return
        index = torch.randperm(batch, generator=self.noise_generator, device=self.device)[:count]
        with torch.no_grad():
            noisy = self.mix_noise(clean[index], self.noise_generator).noisy.clamp(0, 1)
        self.gt, self.lq = self.gt.clone(), self.lq.clone()
        self.gt[index], self.lq[index] = clean[index], noisy.to(self.lq.dtype)

    def optimize_parameters(self, current_iter):
        super().optimize_parameters(current_iter)
        if self.mix_noise is not None and hasattr(self, 'generated_share'):
            self.log_dict['out_generated'] = self.generated_share
