"""Checkpoint helpers: reading checkpoints and converting official ones into BasicSR checkpoints."""
import argparse
import os
import re
import torch
from collections import OrderedDict

from basicsr_noise.utils.errors import InputError


def load_checkpoint_file(path):
    """Load a checkpoint of tensors, with a clear error for a missing or unreadable file.

    Nothing but tensors and plain containers is unpickled, and ``argparse.Namespace``: official training
    checkpoints (DBSN's) store the script's arguments beside the weights."""
    if not os.path.isfile(path):
        raise FileNotFoundError(f'Checkpoint {path} does not exist.')
    try:
        with torch.serialization.safe_globals([argparse.Namespace]):
            return torch.load(path, map_location='cpu', weights_only=True)
    except Exception as e:  # noqa: BLE001 (torch raises several types for a bad file)
        raise InputError(f'Cannot read checkpoint {path}: {e}') from e


# BatchNorm settings of the two official R2R networks (a state dict does not store them): the real-noise network
# (Real_R2R_denoising, with a bias on its first convolution) sets eps 1e-4 and momentum 0.95; the AWGN network
# (train_AWGN.py, no biases) keeps PyTorch's defaults.
R2R_REAL_NOISE_BN = {'bn_eps': 1e-4, 'bn_momentum': 0.95}
R2R_AWGN_BN = {'bn_eps': 1e-5, 'bn_momentum': 0.1}


def convert_r2r_official(state_dict, bn_eps=None, bn_momentum=None):
    """Convert an official R2R DnCNN state dict (``module.dncnn.N.*``) to an ``R2RDnCNN`` checkpoint.

    The official real-noise network reads and writes BGR (OpenCV order). Reversing the input channels of the
    first convolution and the output channels of the last one gives the same network on RGB images (a no-op for
    the grey AWGN network).

    The BatchNorm eps and momentum are those of the network converted: the real-noise network is recognised by
    the bias of its first convolution (:data:`R2R_REAL_NOISE_BN`), the AWGN network by its absence
    (:data:`R2R_AWGN_BN`); ``bn_eps`` / ``bn_momentum`` override them (``convert --option bn_eps=...``).

    Args:
        state_dict (dict): The official state dict.
        bn_eps (float | None): BatchNorm eps. Default: detected.
        bn_momentum (float | None): BatchNorm momentum (PyTorch convention). Default: detected.

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
        first_bias=first_bias_key in params)
    network_g.update(R2R_REAL_NOISE_BN if network_g['first_bias'] else R2R_AWGN_BN)
    if bn_eps is not None:
        network_g['bn_eps'] = float(bn_eps)
    if bn_momentum is not None:
        network_g['bn_momentum'] = float(bn_momentum)
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


# official NoiseTransfer keys -> this package's (applied in order, after the Conv2d/Linear wrappers are dropped)
_NT_MODULATION = ((r'\.convs_gamma\.0\.', '.gamma1.'), (r'\.convs_gamma\.1\.', '.gamma2.'),
                  (r'\.convs_beta\.0\.', '.beta1.'), (r'\.convs_beta\.1\.', '.beta2.'))
NOISETRANSFER_UNET_RENAMES = (
    (r'\.(?:conv2d|tconv2d)\.', '.'),
    (r'^blocks1_\.', 'dec1.'),
    (r'^blocks2_\.', 'dec2.'),
    (r'^blocks1\.', 'enc1.'),
    (r'^blocks2\.', 'enc2.'),
    (r'^blocks3\.', 'bottleneck.'),
    (r'^conv_down([12])\.', r'down\1.'),
    (r'^conv_up([12])\.', r'up\1.'),
    (r'^conv_skip([12])\.', r'fuse\1.'),
) + _NT_MODULATION
NOISETRANSFER_CONTRAE_RENAMES = (
    (r'\.(?:conv2d|linear)\.', '.'),
    (r'^pre_noise\.', 'stem_enc.'),
    (r'^pre_gan\.', 'stem_dis.'),
    (r'^blocks([123])\.', lambda m: f'blocks.{int(m.group(1)) - 1}.'),
    (r'\.noise_inorm([12])\.', r'.enc_norm\1.'),
    (r'\.gan_cin([12])\.', r'.dis_norm\1.modulation.'),
    (r'^conv_down([12])\.', lambda m: f'downs.{int(m.group(1)) - 1}.'),
    (r'^post_noise([123])\.0\.', lambda m: f'enc_heads.{int(m.group(1)) - 1}.proj.'),
    (r'^post_noise([123])\.1\.norm\.', lambda m: f'enc_heads.{int(m.group(1)) - 1}.norm.'),
    (r'^post_noise([123])\.1\.', lambda m: f'enc_heads.{int(m.group(1)) - 1}.conv.'),
    (r'^post_gan([123])\.0\.', lambda m: f'dis_heads.{int(m.group(1)) - 1}.proj.'),
    (r'^post_gan([123])\.1\.', lambda m: f'dis_heads.{int(m.group(1)) - 1}.norm.modulation.'),
    (r'^post_gan([123])\.2\.', lambda m: f'dis_heads.{int(m.group(1)) - 1}.conv.'),
    (r'^conv_gan([123])\.', lambda m: f'dis_heads.{int(m.group(1)) - 1}.logit.'),
    (r'^mlp_noise\.linear([12])\.', r'fc\1.'),
) + _NT_MODULATION
NOISETRANSFER_RIDNET_RENAMES = (
    (r'^b([1-9])\.', lambda m: f'body.{int(m.group(1)) - 1}.'),
    (r'\.r1\.body1\.', '.merge.dilation1.'),
    (r'\.r1\.body2\.', '.merge.dilation2.'),
    (r'\.r1\.body3\.', '.merge.aggregation.'),
    (r'\.r2\.body\.0\.', '.block1.conv1.'),
    (r'\.r2\.body\.2\.', '.block1.conv2.'),
    (r'\.r3\.', '.block2.'),
    (r'\.ca\.c1\.body\.0\.', '.ca.attention.1.'),
    (r'\.ca\.c2\.body\.0\.', '.ca.attention.3.'),
)


def _rename(state_dict, renames, what, expected_prefixes):
    params = OrderedDict()
    for key, value in state_dict.items():
        new = key[len('module.'):] if key.startswith('module.') else key  # DataParallel
        for pattern, repl in renames:
            new = re.sub(pattern, repl, new)
        if not new.startswith(expected_prefixes):
            raise InputError(f'Not an official {what} checkpoint: unexpected key {key!r}.')
        params[new] = value
    return params


def _needed(params, key, what):
    if key not in params:
        raise InputError(f'Not an official {what} checkpoint: no weights for {key}.')
    return params[key]


def convert_noisetransfer_unet(state_dict):
    """The official ``VUNet.pt`` state dict as ``NoiseTransferUNet`` parameters and arch options."""
    params = _rename(state_dict, NOISETRANSFER_UNET_RENAMES, 'NoiseTransfer VUNet',
                     ('conv_first.', 'enc', 'dec', 'bottleneck.', 'down', 'up', 'fuse', 'conv_last.'))
    first = _needed(params, 'conv_first.weight_orig', 'NoiseTransfer VUNet')
    cond = _needed(params, 'enc1.0.sft1.gamma1.weight_orig', 'NoiseTransfer VUNet')
    return params, dict(
        type='NoiseTransferUNet',
        num_in_ch=first.shape[1],
        num_feat=first.shape[0],
        cond_dim=cond.shape[1],
        spectral_norm=True)


def convert_noisetransfer_contrae(state_dict):
    """An official ``encoder_q.pt`` / ``encoder_k.pt`` state dict as ``NoiseTransferContraE`` parameters and arch
    options."""
    params = _rename(state_dict, NOISETRANSFER_CONTRAE_RENAMES, 'NoiseTransfer ContraE',
                     ('stem_', 'blocks.', 'downs.', 'enc_heads.', 'dis_heads.', 'fc1.', 'fc2.'))
    stem = _needed(params, 'stem_enc.weight_orig', 'NoiseTransfer ContraE')
    fc2 = _needed(params, 'fc2.weight_orig', 'NoiseTransfer ContraE')
    return params, dict(
        type='NoiseTransferContraE',
        num_in_ch=stem.shape[1],
        num_feat=stem.shape[0],
        cond_dim=fc2.shape[0],
        spectral_norm=True)


def convert_noisetransfer_official(path):
    """Convert the official NoiseTransfer noise model, a folder such as ``ckpts/NT`` with ``VUNet.pt`` and
    ``encoder_k.pt`` (the key encoder embeds the reference at inference), into one generator checkpoint:
    ``params`` (``NoiseTransferUNet``), ``params_key_encoder`` (``NoiseTransferContraE``) and their options in
    ``meta`` (``network_g``, ``network_key_encoder``), which is what ``GeneratorNoise`` and ``generate --ref`` read.

    Args:
        path (str): The folder, or its ``VUNet.pt`` (``encoder_k.pt`` is then read beside it).

    Returns:
        dict: The checkpoint.
    """
    folder = path if os.path.isdir(path) else os.path.dirname(os.path.abspath(path))
    unet_file = path if os.path.isfile(path) else os.path.join(folder, 'VUNet.pt')
    encoder_file = os.path.join(folder, 'encoder_k.pt')
    for needed in (unet_file, encoder_file):
        if not os.path.isfile(needed):
            raise FileNotFoundError(f'NoiseTransfer conversion needs {needed} (the official ckpts/NT folder holds '
                                    'VUNet.pt, encoder_q.pt and encoder_k.pt).')
    params, network_g = convert_noisetransfer_unet(load_checkpoint_file(unet_file))
    encoder, network_k = convert_noisetransfer_contrae(load_checkpoint_file(encoder_file))
    if network_k['cond_dim'] != network_g['cond_dim']:
        raise InputError(f'{encoder_file} embeds in {network_k["cond_dim"]} dimensions but {unet_file} is '
                         f'conditioned on {network_g["cond_dim"]}.')
    meta = {'network_g': network_g, 'network_key_encoder': network_k, 'converted_from': 'noisetransfer_official'}
    return {'params': params, 'params_key_encoder': encoder, 'meta': meta}


convert_noisetransfer_official.reads_path = True


def convert_noisetransfer_encoder_official(state_dict):
    """Convert an official ``encoder_q.pt`` (the trained encoder / discriminator) into a ``NoiseTransferContraE``
    checkpoint, e.g. for ``path.pretrain_network_d`` when fine-tuning from the published model."""
    params, network = convert_noisetransfer_contrae(state_dict)
    return {'params': params, 'meta': {'network_d': network, 'converted_from': 'noisetransfer_encoder_official'}}


def convert_noisetransfer_ridnet_official(state_dict):
    """Convert the official downstream ``ridnet_g.pt`` into a ``NoiseTransferRIDNet`` checkpoint."""
    params = _rename(state_dict, NOISETRANSFER_RIDNET_RENAMES, 'NoiseTransfer RIDNet_G', ('head.', 'body.', 'tail.'))
    head = _needed(params, 'head.weight', 'NoiseTransfer RIDNet_G')
    num_block = len({k.split('.')[1] for k in params if k.startswith('body.')})
    network_g = dict(type='NoiseTransferRIDNet', num_in_ch=head.shape[1], num_feat=head.shape[0], num_block=num_block)
    return {'params': params, 'meta': {'network_g': network_g, 'converted_from': 'noisetransfer_ridnet_official'}}


# official DBSN Inception_block sub-module -> DilatedInceptionBlock sub-module
_DBSN_INCEPTION = {
    'inception_br1.0': 'path5.0.0',
    'inception_br1.2': 'path5.1',
    'inception_br2.0': 'path3.0.0',
    'inception_br2.2': 'path3.1',
    'inception_br3.0': 'path1.0',
    'concat': 'fuse.0',
    'middle_1x1_convs.0': 'post.0.0',
    'middle_1x1_convs.2': 'post.1.0',
}
_DBSN_TAIL = {'0': 'tail.0.0', '2': 'tail.1.0', '4': 'tail.2'}


def _strip_module(state_dict):
    return OrderedDict((k[len('module.'):] if k.startswith('module.') else k, v) for k, v in state_dict.items())


def _dbsn_branch_key(rest, num_blocks, key):
    """``branch.<i>.<...>`` of an official ``DBSN_branch`` as a key of ``BlindSpotBranch.body``."""
    index, _, name = rest.partition('.')
    index = int(index)
    if index in (0, 2, 4):  # blind-spot conv, then two 1x1 conv + ReLU pairs
        return {0: '0.', 2: '2.0.', 4: '3.0.'}[index] + name
    if index == 6 + num_blocks:  # the last 1x1 conv
        return f'{4 + num_blocks}.{name}'
    if 6 <= index < 6 + num_blocks:
        module, _, param = name.rpartition('.')
        if module in _DBSN_INCEPTION:
            return f'{index - 2}.{_DBSN_INCEPTION[module]}.{param}'
    raise InputError(f'Not an official DBSN checkpoint: unexpected key {key!r}.')


def convert_dbsn_net(state_dict):
    """The official ``DBSN_Model`` state dict (``state_dict_dbsn``) as ``DBSNNet`` parameters and arch options."""
    sd = _strip_module(state_dict)
    head = _needed(sd, 'dbsn_head.0.weight', 'DBSN')
    blocks = {
        b: len({k.split('.')[2]
                for k in sd if k.startswith(f'{b}.branch.') and 'inception_br1' in k})
        for b in ('br1', 'br2')
    }
    if blocks['br1'] != blocks['br2']:
        raise InputError(f'DBSN checkpoint with {blocks["br1"]} and {blocks["br2"]} blocks in its two branches: '
                         'DBSNNet has one num_blocks for both.')
    for branch, size in (('br1', 3), ('br2', 5)):
        got = _needed(sd, f'{branch}.branch.0.weight', 'DBSN').shape[-1]
        if got != size:
            raise InputError(f'DBSN checkpoint: {branch} starts with a {got}x{got} blind-spot convolution; DBSNNet '
                             f'expects {size}x{size} (the official defaults).')
    params = OrderedDict()
    for key, value in sd.items():
        prefix, _, rest = key.partition('.')
        if prefix == 'dbsn_head':
            new = 'head.' + rest
        elif prefix in ('br1', 'br2') and rest.startswith('branch.'):
            new = f'branch{3 if prefix == "br1" else 5}.body.' + _dbsn_branch_key(rest[len('branch.'):], blocks['br1'],
                                                                                  key)
        elif prefix == 'concat':
            new = 'fuse.' + rest
        elif prefix == 'dbsn_tail' and rest.split('.')[0] in _DBSN_TAIL:
            new = _DBSN_TAIL[rest.split('.')[0]] + '.' + rest.split('.', 1)[1]
        else:
            raise InputError(f'Not an official DBSN checkpoint: unexpected key {key!r}.')
        params[new] = value
    if not any(k.endswith('.bias') for k in sd):
        raise InputError('DBSN checkpoint without biases (--blindspot_conv_bias False): DBSNNet always has them.')
    tail = _needed(params, 'tail.2.weight', 'DBSN')
    network_g = dict(
        type='DBSNNet',
        num_in_ch=head.shape[1],
        num_out_ch=tail.shape[0],
        num_feat=head.shape[0],
        num_blocks=blocks['br1'])
    return params, network_g


def _dbsn_pixel_mlp(state_dict, what, num_layers):
    """An official ``Sigma_mu_Net`` / ``Sigma_n_Net`` state dict (``conv.<i>``, ``conv_final``) as ``body.<i>``."""
    sd = _strip_module(state_dict)
    convs = sorted({int(k.split('.')[1]) for k in sd if k.startswith('conv.')})
    params = OrderedDict()
    for key, value in sd.items():
        parts = key.split('.')
        if parts[0] == 'conv' and len(parts) == 3:
            params[f'body.{parts[1]}.{parts[2]}'] = value
        elif parts[0] == 'conv_final' and len(parts) == 2:
            params[f'body.{2 * len(convs)}.{parts[1]}'] = value
        else:
            raise InputError(f'Not an official DBSN {what} checkpoint: unexpected key {key!r}.')
    n_layers = len({k.split('.')[1] for k in params})
    if n_layers != num_layers:
        raise InputError(f'DBSN {what} with {n_layers} layers: this package builds it with {num_layers} (the '
                         'official defaults).')
    if any(v.dim() == 4 and v.shape[-1] != 1 for v in params.values()):
        raise InputError(f'DBSN {what} with spatial kernels: this package builds it from 1x1 convolutions.')
    return params


def convert_dbsn_official(checkpoint):
    """Convert an official DBSN checkpoint (XHWXD/DBSN ``gray_train.py`` / ``rgb_train.py``: a dict with
    ``state_dict_dbsn``, ``state_dict_sigma_mu`` and ``state_dict_sigma_n``, DataParallel ``module.`` keys) into one
    checkpoint: ``params`` (``DBSNNet``), ``params_sigma_mu`` (``DBSNSigmaMuNet``), ``params_noise``
    (``DBSNNoiseEstimator``) and their options in ``meta``. A mu pre-training checkpoint (``state_dict_dbsn`` alone)
    gives ``params`` only.

    Load it with ``path.pretrain_network_g`` / ``pretrain_network_sigma_mu`` / ``pretrain_network_noise`` all naming
    the file and ``param_key_sigma_mu: params_sigma_mu``, ``param_key_noise: params_noise``. The official grey noise
    estimator adds 3e-4 to its output and the colour one does not; a state dict does not say which script wrote it,
    so it is read from the input channels (1: grey, 3: colour) and stored as ``output_offset``.

    Args:
        checkpoint (dict): The official checkpoint.

    Returns:
        dict: The checkpoint.
    """
    if 'state_dict_dbsn' not in checkpoint:
        raise InputError('Not an official DBSN checkpoint: no state_dict_dbsn (expected the dict gray_train.py / '
                         'rgb_train.py save, with state_dict_dbsn, state_dict_sigma_mu, state_dict_sigma_n).')
    params, network_g = convert_dbsn_net(checkpoint['state_dict_dbsn'])
    out = {'params': params, 'meta': {'network_g': network_g, 'converted_from': 'dbsn_official'}}
    if 'state_dict_sigma_mu' in checkpoint:
        sigma_mu = _dbsn_pixel_mlp(checkpoint['state_dict_sigma_mu'], 'Sigma_mu_Net', 3)
        out['params_sigma_mu'] = sigma_mu
        out['meta']['network_sigma_mu'] = dict(
            type='DBSNSigmaMuNet',
            num_feat=sigma_mu['body.0.weight'].shape[1],
            num_mid=sigma_mu['body.0.weight'].shape[0],
            num_out=sigma_mu['body.4.weight'].shape[0])
    if 'state_dict_sigma_n' in checkpoint:
        noise = _dbsn_pixel_mlp(checkpoint['state_dict_sigma_n'], 'Sigma_n_Net', 5)
        num_in_ch = noise['body.0.weight'].shape[1]
        out['params_noise'] = noise
        out['meta']['network_noise'] = dict(
            type='DBSNNoiseEstimator',
            num_in_ch=num_in_ch,
            num_mid=noise['body.0.weight'].shape[0],
            num_out=noise['body.8.weight'].shape[0],
            output_offset=OFFICIAL_DBSN_GREY_NOISE_OFFSET if num_in_ch == 1 else 0.)
    return out


OFFICIAL_DBSN_GREY_NOISE_OFFSET = 3e-4  # dbsn_gray/net/sigma_net.py: Sigma_n_Net returns x + 3e-4

CONVERTERS = {
    'r2r': convert_r2r_official,
    'dbsn': convert_dbsn_official,
    'ntgan': convert_ntgan_official,
    'noisetransfer': convert_noisetransfer_official,
    'noisetransfer_encoder': convert_noisetransfer_encoder_official,
    'noisetransfer_ridnet': convert_noisetransfer_ridnet_official,
}
