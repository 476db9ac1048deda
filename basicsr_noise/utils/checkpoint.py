"""Checkpoint helpers: reading checkpoints and converting official ones into BasicSR checkpoints."""
import os
import re
import torch
from collections import OrderedDict

from basicsr_noise.utils.errors import InputError


def load_checkpoint_file(path):
    """Load a checkpoint of tensors, with a clear error for a missing or unreadable file."""
    if not os.path.isfile(path):
        raise FileNotFoundError(f'Checkpoint {path} does not exist.')
    try:
        return torch.load(path, map_location='cpu', weights_only=True)
    except Exception as e:  # noqa: BLE001 (torch raises several types for a bad file)
        raise InputError(f'Cannot read checkpoint {path}: {e}') from e


def convert_r2r_official(state_dict):
    """Convert the official R2R DnCNN state dict (``module.dncnn.N.*``, BGR) to an RGB ``R2RDnCNN`` checkpoint.

    The official real-noise network reads and writes BGR (OpenCV order). Reversing the input channels of the
    first convolution and the output channels of the last one gives the same network on RGB images.

    Args:
        state_dict (dict): The official state dict.

    Returns:
        dict: ``{'params': state_dict, 'meta': {'network_g': arch options}}``.
    """
    pattern = re.compile(r'^(?:module\.)?dncnn\.(\d+)\.(.+)$')
    params = OrderedDict()
    for key, value in state_dict.items():
        match = pattern.match(key)
        if match is None:
            raise InputError(f'Not an official R2R DnCNN checkpoint: unexpected key {key!r} '
                             "(expected 'module.dncnn.<index>.<name>').")
        params[f'body.{match.group(1)}.{match.group(2)}'] = value
    conv_keys = sorted((k for k, v in params.items() if k.endswith('.weight') and v.dim() == 4),
                       key=lambda k: int(k.split('.')[1]))
    if len(conv_keys) < 2:
        raise InputError('Not an official R2R DnCNN checkpoint: fewer than two convolutions.')
    first, last = conv_keys[0], conv_keys[-1]
    first_bias_key = first.replace('.weight', '.bias')
    params[first] = params[first].flip(1).contiguous()
    params[last] = params[last].flip(0).contiguous()
    if last.replace('.weight', '.bias') in params:
        raise ValueError('Unexpected bias on the last convolution of an R2R DnCNN checkpoint.')
    network_g = dict(
        type='R2RDnCNN',
        num_in_ch=params[first].shape[1],
        num_out_ch=params[last].shape[0],
        num_feat=params[first].shape[0],
        num_layers=len(conv_keys),
        first_bias=first_bias_key in params,
        bn_eps=1e-4,  # official real-noise network; eps is not stored in a state dict
        bn_momentum=0.95)
    return {'params': params, 'meta': {'network_g': network_g, 'converted_from': 'r2r_official'}}


# official NTGAN key -> NTGANNet key (applied in order; NTB<k> is blocks.<k-1>)
NTGAN_RENAMES = (
    (r'^sub_mean\.', 'mean_shift_in.'),
    (r'^add_mean\.', 'mean_shift_out.'),
    (r'^in_conv\.', 'head.'),
    (r'^out_conv\.', 'tail.'),
    (r'^noise_level_branch\.', 'noise_branch.'),
    (r'^NTB([1-4])\.module\.', lambda m: f'blocks.{int(m.group(1)) - 1}.body.'),
    (r'\.main\.0\.', '.conv1.'),
    (r'\.main\.1\.', '.act1.'),
    (r'\.main\.2\.', '.conv2.'),
    (r'\.C\.0\.', '.gate.'),
    (r'\.W\.', '.proj.'),
    (r'\.C1\.0\.', '.squeeze.'),
    (r'\.C1\.1\.', '.squeeze_act.'),
    (r'\.C2\.0\.', '.excite.'),
)


def convert_ntgan_official(state_dict):
    """Convert the official NTGAN state dict (``models/ntgan.pth``: ``NTB1.module.0.main.0.weight``, ...) to an
    ``NTGANNet`` checkpoint.

    The widths are read from the weights; the block order is the release's (NTB3 twice, NTB4 unused), which is what
    the published weights were trained with.

    Args:
        state_dict (dict): The official state dict.

    Returns:
        dict: ``{'params': state_dict, 'meta': {'network_g': arch options}}``.
    """
    params = OrderedDict()
    for key, value in state_dict.items():
        new = key[len('module.'):] if key.startswith('module.') else key
        for pattern, repl in NTGAN_RENAMES:
            new = re.sub(pattern, repl, new)
        if not new.startswith(('mean_shift_', 'head.', 'tail.', 'noise_branch.', 'blocks.')) or new == key:
            raise InputError(f'Not an official NTGAN checkpoint: unexpected key {key!r} (expected sub_mean, add_mean, '
                             'in_conv, out_conv, NTB1-4 and noise_level_branch).')
        params[new] = value
    for needed in ('head.0.weight', 'blocks.3.body.5.squeeze.weight', 'noise_branch.18.weight', 'tail.6.weight'):
        if needed not in params:
            raise InputError(f'Not an official NTGAN checkpoint: no weights for {needed}.')
    network_g = dict(
        type='NTGANNet',
        num_in_ch=params['head.0.weight'].shape[1],
        num_feat=params['head.0.weight'].shape[0],
        sa_ch=params['blocks.0.body.2.gate.weight'].shape[1],
        ca_ch=params['blocks.0.body.5.squeeze.weight'].shape[0],
        block_order='released')
    return {'params': params, 'meta': {'network_g': network_g, 'converted_from': 'ntgan_official'}}


CONVERTERS = {'r2r': convert_r2r_official, 'ntgan': convert_ntgan_official}
