"""``basicsr-noise submit``: SIDD (CSV/.mat) and DND (bundled .mat) benchmark submissions."""
from basicsr_noise.commands.infer import add_denoiser_arguments, denoiser_from_args
from basicsr_noise.evaluation import submission
from basicsr_noise.utils.errors import InputError

NAME = 'submit'
HELP = 'Write a SIDD (CSV/.mat) or DND (bundled .mat) benchmark submission from a model or a results folder.'


def add_arguments(parser):
    parser.add_argument('benchmark', choices=['sidd', 'dnd'])
    parser.add_argument('--output', required=True, help='Output folder.')
    add_denoiser_arguments(parser, results=True)
    parser.add_argument('--noisy_mat', help='sidd with a model: BenchmarkNoisyBlocksSrgb.mat.')
    parser.add_argument('--data', help='dnd with a model: the DND release folder (info.mat, images_srgb/).')
    parser.add_argument(
        '--format', nargs='+', choices=['csv', 'mat'], default=['csv', 'mat'], help='sidd: which files.')


def run(args):
    denoiser = None if args.results is not None else denoiser_from_args(args)
    if args.benchmark == 'sidd':
        if denoiser is not None and not args.noisy_mat:
            raise InputError('submit sidd with a model needs --noisy_mat (BenchmarkNoisyBlocksSrgb.mat).')
        written = submission.submit_sidd(args.output, args.noisy_mat, denoiser, args.results, args.format)
        print('Wrote ' + ', '.join(written) + ' (upload the CSV to kaggle.com/competitions/sidd-benchmark-srgb-psnr).')
    else:
        if denoiser is not None and not args.data:
            raise InputError('submit dnd with a model needs --data (the DND release: info.mat, images_srgb/).')
        bundled = submission.submit_dnd(args.output, args.data, denoiser, args.results)
        print(f'Wrote the DND crops to {args.output} and the 50 bundled files to {bundled}.')
