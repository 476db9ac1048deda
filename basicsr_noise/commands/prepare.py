"""``basicsr-noise prepare``: SIDD-Medium crops to LMDBs, SIDD validation blocks, the demo data, camsim."""
from os import path as osp

from basicsr_noise.data import prepare
from basicsr_noise.utils.errors import InputError

NAME = 'prepare'
HELP = ('Prepare a dataset: SIDD-Medium crops to LMDBs, SIDD validation blocks, demo, the simulated camera benchmark '
        '(camsim).')
NEEDED = {'sidd': ['input'], 'sidd-val': ['noisy_mat'], 'demo': [], 'camsim': []}


def add_arguments(parser):
    parser.add_argument('dataset', choices=list(NEEDED))
    parser.add_argument('--input', help='sidd: the SIDD-Medium sRGB Data folder.')
    parser.add_argument('--noisy_mat', help='sidd-val: ValidationNoisyBlocksSrgb.mat.')
    parser.add_argument('--gt_mat', help='sidd-val: ValidationGtBlocksSrgb.mat (optional).')
    parser.add_argument('--output', required=True, help='Output folder.')
    parser.add_argument('--crop_size', type=int, default=512, help='sidd: crop size. Default: 512.')
    parser.add_argument('--step', type=int, default=384, help='sidd: crop step. Default: 384.')
    parser.add_argument('--thresh_size', type=int, default=0, help='sidd: keep a last crop if this many pixels remain.')
    parser.add_argument('--lmdb', action='store_true', help='sidd-val: write LMDBs instead of PNG folders.')
    parser.add_argument(
        '--train_stride',
        type=int,
        default=128,
        help='camsim: below 128, overlapping training crops at this stride are added (each its own '
        'noise draw). Default: 128 (the grid only).')
    parser.add_argument(
        '--val_images',
        nargs='*',
        default=[],
        help='camsim: training images held out as a validation split (e.g. retina). Default: none.')
    parser.add_argument('--overwrite', action='store_true', help='Replace existing outputs.')


def run(args):
    missing = [f'--{flag}' for flag in NEEDED[args.dataset] if getattr(args, flag) is None]
    if missing:
        raise InputError(f'prepare {args.dataset} needs {", ".join(missing)}.')
    if args.dataset == 'sidd':
        n = prepare.prepare_sidd(args.input, args.output, args.crop_size, args.step, args.thresh_size, args.overwrite)
        print(f'Wrote {n} crop pairs to {args.output}/noisy_crops.lmdb and gt_crops.lmdb.')
    elif args.dataset == 'sidd-val':
        n = prepare.prepare_sidd_val(args.noisy_mat, args.gt_mat, args.output, args.overwrite, args.lmdb)
        print(f'Wrote {n} blocks to {args.output}.')
    elif args.dataset == 'camsim':
        from basicsr_noise.evaluation.camsim import prepare_camsim
        try:
            manifest = prepare_camsim(
                args.output, overwrite=args.overwrite, train_stride=args.train_stride, val_images=args.val_images)
        except ValueError as e:
            raise InputError(str(e)) from e
        print(f'Wrote {len(manifest["tiles"])} tiles of the simulated camera benchmark to {args.output} '
              f'(settings {", ".join(manifest["settings"])}; parameters in camsim.json).')
    else:
        from basicsr_noise.data.demo_data import build_demo_data
        print(f'Demo data in {build_demo_data(osp.abspath(args.output))}.')
