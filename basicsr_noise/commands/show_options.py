"""``basicsr-noise show-options``: the options BasicSR would receive, ``_base_`` files merged and overrides applied."""
from basicsr_noise.utils.options import apply_force_yml, dump_options, load_options

NAME = 'show-options'
HELP = 'Print an option file with its _base_ files merged and --force_yml overrides applied.'


def add_arguments(parser):
    parser.add_argument('opt', help='Option file.')
    parser.add_argument('--force_yml', nargs='+', default=None, help='Overrides, as for train.')


def run(args):
    print(dump_options(apply_force_yml(load_options(args.opt), args.force_yml)), end='')
