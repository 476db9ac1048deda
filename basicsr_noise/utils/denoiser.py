"""Denoisers loaded for inference: a bare network from a checkpoint, or a whole model from its option file.

Both are callables ``denoiser(x) -> y`` on ``(B, C, H, W)`` batches in [0, 1], used by ``infer``, ``submit``, PGap and
the benchmarks.
"""
import torch
from basicsr.archs import build_network

from basicsr_noise.utils.checkpoint import load_checkpoint_file
from basicsr_noise.utils.errors import InputError
from basicsr_noise.utils.tiling import tiled_forward


def pick_params(ckpt, path, param_key=None):
    """The state dict of a BasicSR checkpoint: ``param_key``, else ``params_ema`` if present, else ``params``."""
    keys = [param_key] if param_key else ['params_ema', 'params']
    for key in keys:
        if key in ckpt:
            return ckpt[key]
    raise InputError(f'Checkpoint {path} has none of the parameter keys {keys}.')


def network_options(ckpt, path, key='network_g'):
    """The arch options a basicsr-noise checkpoint stores under ``meta``."""
    network_opt = (ckpt.get('meta') or {}).get(key)
    if network_opt is None:
        raise InputError(f'Checkpoint {path} stores no network options (meta.{key}); use --opt with the option file '
                         'it was trained with.')
    return dict(network_opt)


def default_device(name=None):
    """``torch.device(name)``, or cuda when available and cpu otherwise."""
    return torch.device(name or ('cuda' if torch.cuda.is_available() else 'cpu'))


class NetworkDenoiser:
    """A bare network from a basicsr-noise checkpoint (arch options stored under ``meta``).

    Networks with a ``denoise`` method (NTGAN's noise-transference network, run with target noise level zero) are
    called through it; others through ``forward``.
    """

    def __init__(self, ckpt_path, device, param_key=None, tile=None, tile_overlap=32):
        ckpt = load_checkpoint_file(ckpt_path)
        network_opt = network_options(ckpt, ckpt_path)
        self.net = build_network(dict(network_opt)).to(device).eval()
        self.net.load_state_dict(pick_params(ckpt, ckpt_path, param_key))
        self.fn = getattr(self.net, 'denoise', self.net)
        self.device, self.tile, self.tile_overlap = device, tile, tile_overlap
        self.grey = network_opt.get('num_in_ch', 3) == 1

    @torch.no_grad()
    def __call__(self, x):
        return tiled_forward(self.fn, x.to(self.device), self.tile, self.tile_overlap)


class ModelDenoiser:
    """A whole model built from its option file, so that its test-time procedure (e.g. R2R averaging) applies."""

    def __init__(self, opt_path, device, weights=None, param_key=None, tile=None, tile_overlap=32):
        from basicsr.models import build_model

        from basicsr_noise.utils.options import load_options
        from basicsr_noise.utils.plugins import import_plugins
        opt = load_options(opt_path)
        import_plugins(opt.get('plugins'), f'{opt_path}: plugins')
        opt.update(is_train=False, dist=False, rank=0, world_size=1, num_gpu=1 if device.type == 'cuda' else 0)
        opt.setdefault('path', {})
        if weights is not None:
            opt['path']['pretrain_network_g'] = weights
        if not opt['path'].get('pretrain_network_g'):
            raise InputError(f'{opt_path}: path.pretrain_network_g is not set; pass --weights.')
        opt['path']['param_key_g'] = param_key or opt['path'].get('param_key_g', 'params')
        opt['val'] = dict(opt.get('val') or {}, tile_size=tile, tile_overlap=tile_overlap)
        self.model = build_model(opt)
        self.grey = opt['network_g'].get('num_in_ch', 3) == 1

    @torch.no_grad()
    def __call__(self, x):
        self.model.feed_val_data({'lq': x})
        self.model.test()
        return self.model.output


def load_denoiser(opt=None, ckpt=None, device=None, weights=None, param_key=None, tile=None, tile_overlap=32):
    """A :class:`ModelDenoiser` from an option file (``opt``) or a :class:`NetworkDenoiser` from a checkpoint."""
    if (opt is None) == (ckpt is None):
        raise InputError('Give an option file (--opt) or a checkpoint (--ckpt), not both.')
    device = default_device(device) if not isinstance(device, torch.device) else device
    if opt is not None:
        return ModelDenoiser(opt, device, weights, param_key, tile, tile_overlap)
    return NetworkDenoiser(ckpt, device, param_key, tile, tile_overlap)
