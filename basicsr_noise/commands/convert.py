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
    parser.add_argument('input', help='Official checkpoint.')
    parser.add_argument('output', help='BasicSR checkpoint to write.')
    parser.add_argument('--overwrite', action='store_true', help='Replace an existing output file.')


def run(args):
    if osp.exists(args.output) and not args.overwrite:
        raise FileExistsError(f'{args.output} exists; pass --overwrite to replace it.')
    state = load_checkpoint_file(args.input)
    state = state.get('state_dict', state) if isinstance(state, dict) else state
    converted = CONVERTERS[args.method](state)
    os.makedirs(osp.dirname(osp.abspath(args.output)), exist_ok=True)
    atomic_torch_save(converted, args.output)
    n_params = sum(v.numel() for k, v in converted['params'].items() if torch.is_floating_point(v))
    print(f'Wrote {args.output}: {converted["meta"]["network_g"]}, {n_params:,d} values.')
