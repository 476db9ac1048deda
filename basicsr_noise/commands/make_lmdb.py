"""``basicsr-noise make-lmdb``: the images of a folder into a BasicSR LMDB (atomic, exact map size)."""
from basicsr_noise.data.prepare import make_lmdb

NAME = 'make-lmdb'
HELP = 'Write the images of a folder into a BasicSR LMDB (atomic, exact map size).'


def add_arguments(parser):
    parser.add_argument('--input', required=True, help='Image folder (searched recursively).')
    parser.add_argument('--output', required=True, help='Output path ending with .lmdb.')
    parser.add_argument('--compress_level', type=int, default=1, help='PNG compression level. Default: 1.')
    parser.add_argument('--overwrite', action='store_true', help='Replace an existing output.')


def run(args):
    n = make_lmdb(args.input, args.output, args.overwrite, args.compress_level)
    print(f'Wrote {n} images to {args.output}.')
