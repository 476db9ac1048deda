"""Noise drawn from a trained generator (PNGAN's SMNet, ...), as a noise model like any other."""
import torch

from basicsr_noise.utils.checkpoint import load_checkpoint_file
from basicsr_noise.utils.errors import InputError
from basicsr_noise.utils.tiling import tiled_forward
from .base import NoiseModel, NoiseSample
from .registry import NOISE_REGISTRY, build_noise

KEY_ENCODER_PARAMS = 'params_key_encoder'
MIN_REFERENCE_SIZE = 8


def read_generator_checkpoint(path, param_key=None, ckpt=None):
    """``(state dict, meta)`` of a generator checkpoint written by basicsr-noise (``params``/``params_ema`` and
    ``meta.network_g``, ``meta.input_noise`` or ``meta.network_key_encoder``)."""
    ckpt = load_checkpoint_file(path) if ckpt is None else ckpt
    keys = [param_key] if param_key else ['params_ema', 'params']
    params = next((ckpt[k] for k in keys if k in ckpt), None)
    if params is None:
        raise InputError(f'Generator checkpoint {path} has none of the parameter keys {keys}.')
    meta = ckpt.get('meta') or {}
    if 'network_g' not in meta:
        raise InputError(f'Generator checkpoint {path} stores no network options (meta.network_g): was it written '
                         'by a basicsr-noise generator model (PNGANModel, NoiseTransferModel)?')
    return params, meta


class ReferenceImages:
    """Noisy reference images (one file, a folder or a BasicSR LMDB) for a reference-conditioned generator, read
    once, cropped to multiples of 4 (not padded: padding would add noise-free pixels to the statistics)."""

    def __init__(self, reference, channels):
        import cv2
        import numpy as np
        from os import path as osp

        from basicsr_noise.data.image_source import ImageSource  # BasicSR only when references are read
        root, names = reference, None
        if osp.isfile(reference):
            root, names = osp.dirname(osp.abspath(reference)), [osp.basename(reference)]
        backend = 'lmdb' if str(reference).rstrip('/').endswith('.lmdb') else 'disk'
        source = ImageSource(root, backend, names=names, what='reference')
        self.names, self.images = source.names, []
        for name in source.names:
            h, w, *c = source.sizes[name]
            if min(h, w) < MIN_REFERENCE_SIZE:
                raise InputError(f'Reference {source.path(name)} is {h}x{w}: a reference must be at least '
                                 f'{MIN_REFERENCE_SIZE}x{MIN_REFERENCE_SIZE}.')
            if backend == 'disk':
                c = [1 if cv2.imread(source.path(name), cv2.IMREAD_UNCHANGED).ndim == 2 else 3]
            if (c[0] if c else 3) == 1 and channels == 3:
                raise InputError(f'Reference {source.path(name)} is a grey image, but the generator makes '
                                 f'{channels}-channel noise: give colour references.')
            img = source.read(name)
            img = img[:img.shape[0] // 4 * 4, :img.shape[1] // 4 * 4]
            if channels == 3:
                img = img[..., ::-1]  # BGR to RGB
            elif img.shape[2] == 3:
                img = img.mean(2, keepdims=True)
            self.images.append(torch.from_numpy(np.ascontiguousarray(img)).permute(2, 0, 1)[None])

    def __len__(self):
        return len(self.images)


@NOISE_REGISTRY.register()
class GeneratorNoise(NoiseModel):
    """The realistic noisy images of a trained generator, frozen, batched on ``x``'s device under ``no_grad``,
    reproducible with a ``torch.Generator``:

    * PNGAN (``meta.input_noise``): ``G(input_noise(x))``; the input synthesis draws from the generator;
    * NoiseTransfer (``meta.network_key_encoder``): ``x + G(x, E_k(ref))``, ``ref`` drawn per sample from
      ``reference`` with the generator, which also draws the network's per-pixel noise maps. Each reference is
      embedded once per device.

    Args:
        checkpoint (str): A generator checkpoint written by basicsr-noise (PNGAN's or NoiseTransfer's
            ``net_g_*.pth``, or ``convert --method noisetransfer``); its ``meta`` holds the network options.
        input_noise (dict | None): PNGAN: the input synthesis, overriding the checkpoint's (AWGN sigma 50, clipped
            and quantised).
        reference (str | None): NoiseTransfer (required): a noisy reference image, or a folder or LMDB of them.
        param_key (str | None): ``params`` or ``params_ema``. Default: ``params_ema`` when present.
        autocast (bool): Run the network under autocast (bfloat16 on CPU, float16 on CUDA). Default: False.
        tile_size (int | None): Run the network over tiles of this size (the input synthesis is drawn on the whole
            image first), for large images. Default: None (whole images).
        tile_overlap (int): Overlap of the tiles. Default: 32.
        clip, quantize (bool): As every noise model. Default: the output clipped to [0, 1], not quantised.
    """

    def __init__(self, checkpoint, input_noise=None, reference=None, param_key=None, autocast=False, tile_size=None,
                 tile_overlap=32, clip=True, quantize=False):
        super().__init__(clip=clip, quantize=quantize)
        self.checkpoint = checkpoint
        ckpt = load_checkpoint_file(checkpoint)
        self.params, meta = read_generator_checkpoint(checkpoint, param_key, ckpt)
        self.network_opt = dict(meta['network_g'])
        self.encoder_opt = meta.get('network_key_encoder')
        self.input_noise = self.references = None
        if self.encoder_opt is not None:
            if KEY_ENCODER_PARAMS not in ckpt:
                raise InputError(f'{checkpoint} names a key encoder but holds no {KEY_ENCODER_PARAMS}.')
            if reference is None:
                raise InputError(f'{checkpoint} is a reference-conditioned generator (NoiseTransfer): give a '
                                 'reference noisy image or folder (reference, or generate --ref).')
            self.encoder_params = ckpt[KEY_ENCODER_PARAMS]
            self.references = ReferenceImages(reference, self.network_opt.get('num_in_ch', 3))
        else:
            if reference is not None:
                raise InputError(f'{checkpoint} is not a reference-conditioned generator: a reference is for '
                                 'NoiseTransfer checkpoints.')
            input_noise = input_noise or meta.get('input_noise')
            if input_noise is None:
                raise InputError(f'{checkpoint} stores no input synthesis (meta.input_noise); give input_noise.')
            self.input_noise = build_noise(input_noise)
        self.autocast = bool(autocast)
        self.tile_size, self.tile_overlap = tile_size, tile_overlap
        self._nets, self._embeddings = {}, {}

    @staticmethod
    def _frozen(network_opt, params, device):
        from basicsr.archs import build_network  # BasicSR only when a network is built
        net = build_network(dict(network_opt))
        net.load_state_dict(params)
        return net.to(device).eval().requires_grad_(False)

    def network(self, device):
        """The frozen network on ``device`` (built once per device)."""
        key = str(device)
        if key not in self._nets:
            self._nets[key] = self._frozen(self.network_opt, self.params, device)
        return self._nets[key]

    def embeddings(self, device):
        """``(N_ref, D)``: the key encoder's embedding of every reference, on ``device`` (computed once)."""
        key = str(device)
        if key not in self._embeddings:
            encoder = self._frozen(self.encoder_opt, self.encoder_params, device)
            with torch.no_grad():
                self._embeddings[key] = torch.cat([encoder(ref.to(device))[1] for ref in self.references.images])
        return self._embeddings[key]

    def _autocast(self, device):
        dtype = torch.float16 if device.type == 'cuda' else torch.bfloat16
        return torch.autocast(device.type, dtype=dtype, enabled=self.autocast)

    def sample(self, x, generator=None):
        if self.references is None:
            net = self.network(x.device)
            synthetic = self.input_noise(x, generator).noisy
            with torch.no_grad(), self._autocast(x.device):
                noisy = tiled_forward(net, synthetic, self.tile_size, self.tile_overlap)
            return NoiseSample(noisy.to(x.dtype), params={'input': synthetic})
        index = torch.randint(len(self.references), (x.shape[0], ), generator=generator, device=x.device)
        return NoiseSample(self.transfer(x, index, generator), params={'reference': index})

    def transfer(self, x, index, generator=None):
        """NoiseTransfer: ``x + G(x, E_k(references[index]))`` unclipped, ``index`` ``(B,)`` choosing each image's
        reference (e.g. its own noisy version, for the paired evaluation)."""
        net, embeddings = self.network(x.device), self.embeddings(x.device)
        with torch.no_grad(), self._autocast(x.device):
            if self.tile_size is None:
                return (x + net(x, embeddings[index], generator)).to(x.dtype)
            noisy = torch.empty_like(x)
            for i in range(x.shape[0]):  # over tiles, one image (and its reference) at a time
                cond = embeddings[index[i]][None]

                def transfer(tiles, cond=cond):
                    return tiles + net(tiles, cond.expand(tiles.shape[0], -1), generator)

                noisy[i:i + 1] = tiled_forward(transfer, x[i:i + 1], self.tile_size, self.tile_overlap).to(x.dtype)
        return noisy
