"""Noise drawn from a trained generator (PNGAN's SMNet, ...), as a noise model like any other."""
import torch

from basicsr_noise.utils.checkpoint import load_checkpoint_file
from basicsr_noise.utils.errors import InputError
from basicsr_noise.utils.tiling import tiled_forward
from .base import NoiseModel, NoiseSample
from .registry import NOISE_REGISTRY, build_noise


def read_generator_checkpoint(path, param_key=None):
    """``(state dict, meta)`` of a generator checkpoint written by basicsr-noise (``params``/``params_ema`` and
    ``meta.network_g``, ``meta.input_noise``)."""
    ckpt = load_checkpoint_file(path)
    keys = [param_key] if param_key else ['params_ema', 'params']
    params = next((ckpt[k] for k in keys if k in ckpt), None)
    if params is None:
        raise InputError(f'Generator checkpoint {path} has none of the parameter keys {keys}.')
    meta = ckpt.get('meta') or {}
    if 'network_g' not in meta:
        raise InputError(f'Generator checkpoint {path} stores no network options (meta.network_g): was it written '
                         'by a basicsr-noise generator model (PNGANModel, ...)?')
    return params, meta


@NOISE_REGISTRY.register()
class GeneratorNoise(NoiseModel):
    """The realistic noisy images of a trained generator: ``G(input_noise(x))``, frozen, batched on ``x``'s device
    under ``no_grad``, reproducible with a ``torch.Generator`` (the input synthesis draws from it; the generator
    network itself is deterministic).

    Args:
        checkpoint (str): A generator checkpoint written by basicsr-noise (e.g. PNGAN's ``net_g_*.pth``); its
            ``meta`` holds the network options and the generator's input synthesis.
        input_noise (dict | None): The input synthesis, overriding the checkpoint's (PNGAN: AWGN sigma 50, clipped
            and quantised).
        param_key (str | None): ``params`` or ``params_ema``. Default: ``params_ema`` when present.
        autocast (bool): Run the network under autocast (bfloat16 on CPU, float16 on CUDA). Default: False.
        tile_size (int | None): Run the network over tiles of this size (the input synthesis is drawn on the whole
            image first), for large images. Default: None (whole images).
        tile_overlap (int): Overlap of the tiles. Default: 32.
        clip, quantize (bool): As every noise model. Default: the output clipped to [0, 1], not quantised.
    """

    def __init__(self, checkpoint, input_noise=None, param_key=None, autocast=False, tile_size=None, tile_overlap=32,
                 clip=True, quantize=False):
        super().__init__(clip=clip, quantize=quantize)
        self.checkpoint = checkpoint
        self.params, meta = read_generator_checkpoint(checkpoint, param_key)
        self.network_opt = dict(meta['network_g'])
        input_noise = input_noise or meta.get('input_noise')
        if input_noise is None:
            raise InputError(f'{checkpoint} stores no input synthesis (meta.input_noise); give input_noise.')
        self.input_noise = build_noise(input_noise)
        self.autocast = bool(autocast)
        self.tile_size, self.tile_overlap = tile_size, tile_overlap
        self._nets = {}

    def network(self, device):
        """The frozen network on ``device`` (built once per device)."""
        key = str(device)
        if key not in self._nets:
            from basicsr.archs import build_network  # BasicSR only when a network is built
            net = build_network(dict(self.network_opt))
            net.load_state_dict(self.params)
            self._nets[key] = net.to(device).eval().requires_grad_(False)
        return self._nets[key]

    def sample(self, x, generator=None):
        synthetic = self.input_noise(x, generator).noisy
        net = self.network(x.device)
        dtype = torch.float16 if x.device.type == 'cuda' else torch.bfloat16
        with torch.no_grad(), torch.autocast(x.device.type, dtype=dtype, enabled=self.autocast):
            noisy = tiled_forward(net, synthetic, self.tile_size, self.tile_overlap)
        return NoiseSample(noisy.to(x.dtype), params={'input': synthetic})
