from basicsr.utils.registry import MODEL_REGISTRY

from basicsr_noise.noise import build_noise
from .base_model import NoiseBaseModel


@MODEL_REGISTRY.register()
class SynthNoiseDenoiserModel(NoiseBaseModel):
    """Supervised denoising with synthetic noise, for any BasicSR arch.

    Batches that carry no ``lq`` (``SyntheticNoiseDataset`` with ``synthesize_on_device: true``) get their noise
    here, in ``feed_data``, batched on the model's device, from the training set's ``noise_opt`` (or a top-level
    ``noise_opt``), with a generator seeded ``manual_seed + rank`` whose state is part of the training state.
    Batches with ``lq`` (noise drawn in the workers, or real pairs) are used as they are.
    """

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
