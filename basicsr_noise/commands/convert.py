"""``basicsr-noise convert``: an official checkpoint to a BasicSR checkpoint that stores its network options."""
import inspect
import os
import torch
import yaml
from os import path as osp

from basicsr_noise.utils.atomic import atomic_torch_save
from basicsr_noise.utils.checkpoint import CONVERTERS, load_checkpoint_file
from basicsr_noise.utils.errors import InputError

NAME = 'convert'
HELP = 'Convert an official checkpoint into a BasicSR checkpoint.'


def add_arguments(parser):
    parser.add_argument('--method', required=True, choices=sorted(CONVERTERS), help='Which official checkpoint format.')
    parser.add_argument('input', help='Official checkpoint (noisetransfer: the ckpts/NT folder, or its VUNet.pt).')
    parser.add_argument('output', help='BasicSR checkpoint to write.')
    parser.add_argument('--overwrite', action='store_true', help='Replace an existing output file.')
    parser.add_argument(
        '--option',
        action='append',
        default=[],
        metavar='KEY=VALUE',
        help='A setting the checkpoint does not store, e.g. r2r: bn_eps=1e-4 (repeatable).')


def converter_options(converter, entries):
    """``KEY=VALUE`` entries as keyword arguments of ``converter`` (YAML values), with a clear error for a key it
    does not take."""
    accepted = [p for p in list(inspect.signature(converter).parameters)[1:]]
    kwargs = {}
    for entry in entries:
        key, sep, value = entry.partition('=')
        if not sep or key not in accepted:
            raise InputError(f'--option {entry!r}: this converter takes ' +
                             (', '.join(f'{k}=VALUE' for k in accepted) if accepted else 'no options') + '.')
        kwargs[key] = yaml.safe_load(value)
    return kwargs


def run(args):
    if osp.exists(args.output) and not args.overwrite:
        raise FileExistsError(f'{args.output} exists; pass --overwrite to replace it.')
    converter = CONVERTERS[args.method]
    kwargs = converter_options(converter, args.option)
    if getattr(converter, 'reads_path', False):  # several official files
        converted = converter(args.input, **kwargs)
    else:
        state = load_checkpoint_file(args.input)
        converted = converter(state.get('state_dict', state) if isinstance(state, dict) else state, **kwargs)
    os.makedirs(osp.dirname(osp.abspath(args.output)), exist_ok=True)
    atomic_torch_save(converted, args.output)
    n_params = sum(v.numel() for k, v in converted['params'].items() if torch.is_floating_point(v))
    network = converted['meta'].get('network_g') or converted['meta'].get('network_d')
    print(f'Wrote {args.output}: {network}, {n_params:,d} values.')
