"""``basicsr-noise pgap``: the PSNR gap of a noise source (:mod:`basicsr_noise.evaluation.pgap`)."""
import os

from basicsr_noise.evaluation.pgap import run_pgap
from basicsr_noise.utils.options import apply_force_yml, load_options

NAME = 'pgap'
HELP = 'PSNR gap of a noise source: one denoiser trained on real pairs, one on the source, both tested on real pairs.'


def add_arguments(parser):
    parser.add_argument('-opt', required=True, help='PGap option file (see docs/evaluation.md).')
    parser.add_argument(
        '--force_yml', nargs='+', default=None, help='Override options, e.g. pgap:recipe:total_iter=100')


def run(args):
    run_pgap(apply_force_yml(load_options(args.opt), args.force_yml), root=os.getcwd())
