"""``basicsr-noise eval-noise``: AKLD, KS and noise statistics of generated against real noisy images, figures."""
from os import path as osp

from basicsr_noise.evaluation.eval_noise import evaluate_noise, format_table

NAME = 'eval-noise'
HELP = 'AKLD, KS and noise statistics of generated against real noisy images, with figures.'


def add_arguments(parser):
    parser.add_argument('--clean', required=True, help='Folder of clean images.')
    parser.add_argument('--real', required=True, help='Folder of real noisy images (same names as the clean ones).')
    parser.add_argument('--fake', required=True, help='Folder of generated noisy images (same names).')
    parser.add_argument('--output', default='results/eval_noise', help='Output folder. Default: results/eval_noise.')
    parser.add_argument('--no_figures', action='store_true', help='Only the scores.')


def run(args):
    report = evaluate_noise(args.clean, args.real, args.fake, args.output, figures=not args.no_figures)
    print(format_table(report))
    print(f'Scores: {osp.join(args.output, "eval_noise.json")}' +
          ('' if args.no_figures else f'; figures: {osp.join(args.output, "figures")}'))
