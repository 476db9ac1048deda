"""``basicsr-noise convert``: an official checkpoint to a BasicSR checkpoint that stores its network options."""
import os
import torch
from os import path as osp

from basicsr_noise.utils.atomic import atomic_torch_save
from basicsr_noise.utils.checkpoint import CONVERTERS, load_checkpoint_file

NAME = 'convert'
HELP = 'Convert an official checkpoint into a BasicSR checkpoint.'


def add_arguments(parser):
    parser.add_argument('--method', required=True, choices=sorted(CONVERTERS), help='Which official checkpoint format.')
    parser.add_argument('input', help='Official checkpoint (noisetransfer: the ckpts/NT folder, or its VUNet.pt).')
    parser.add_argument('output', help='BasicSR checkpoint to write.')
    parser.add_argument('--overwrite', action='store_true', help='Replace an existing output file.')


def run(args):
    if osp.exists(args.output) and not args.overwrite:
        raise FileExistsError(f'{args.output} exists; pass --overwrite to replace it.')
    converter = CONVERTERS[args.method]
    if getattr(converter, 'reads_path', False):  # several official files
        converted = converter(args.input)
    else:
        state = load_checkpoint_file(args.input)
        converted = converter(state.get('state_dict', state) if isinstance(state, dict) else state)
    os.makedirs(osp.dirname(osp.abspath(args.output)), exist_ok=True)
    atomic_torch_save(converted, args.output)
    n_params = sum(v.numel() for k, v in converted['params'].items() if torch.is_floating_point(v))
    network = converted['meta'].get('network_g') or converted['meta'].get('network_d')
    print(f'Wrote {args.output}: {network}, {n_params:,d} values.')
