"""``basicsr-noise eval-noise``: AKLD, KS and noise statistics of generated against real noisy images, figures."""
from os import path as osp

from basicsr_noise.evaluation.eval_noise import evaluate_noise, format_table
from basicsr_noise.utils.errors import InputError

NAME = 'eval-noise'
HELP = 'AKLD, KS and noise statistics of generated against real noisy images, with figures.'


def add_arguments(parser):
    parser.add_argument('--clean', required=True, help='Folder of clean images.')
    parser.add_argument('--real', required=True, help='Folder of real noisy images (same names as the clean ones).')
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument('--fake', help='Folder of generated noisy images (same names).')
    source.add_argument('--ckpt', help='A generator checkpoint (net_g_*.pth): the generated images are made from '
                        '--clean first (seeded), into OUTPUT/fake.')
    parser.add_argument('--ref', default=None,
                        help='With --ckpt of NoiseTransfer: a reference noisy image or folder (one drawn per image); '
                        'paired: each image\'s own real noisy version (the official evaluation).')
    parser.add_argument('--seed', type=int, default=0, help='With --ckpt: image i draws with seed + i. Default: 0.')
    parser.add_argument('--output', default='results/eval_noise', help='Output folder. Default: results/eval_noise.')
    parser.add_argument('--no_figures', action='store_true', help='Only the scores.')


def run(args):
    fake = args.fake
    if args.ckpt is not None:
        fake = materialise_generated(args)
    elif args.ref is not None:
        raise InputError('--ref goes with --ckpt (a NoiseTransfer checkpoint).')
    report = evaluate_noise(args.clean, args.real, fake, args.output, figures=not args.no_figures)
    print(format_table(report))
    print(f'Scores: {osp.join(args.output, "eval_noise.json")}' +
          ('' if args.no_figures else f'; figures: {osp.join(args.output, "figures")}'))


def materialise_generated(args):
    """``OUTPUT/fake``: one generated image per clean image, from the checkpoint (GeneratorNoise)."""
    from basicsr_noise.data.generated_images import generate_noisy_images, generate_paired_transfer
    from basicsr_noise.noise import GeneratorNoise
    out = osp.join(args.output, 'fake')
    if args.ref == 'paired':
        generate_paired_transfer(GeneratorNoise(args.ckpt, reference=args.real), args.clean, out, args.seed)
    else:
        generate_noisy_images(GeneratorNoise(args.ckpt, reference=args.ref), args.clean, out, seed=args.seed,
                              overwrite=True)
    return out
