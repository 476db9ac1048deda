"""``basicsr-noise generate``: realistic noisy images from clean ones with a trained generator (PNGAN, or
NoiseTransfer from a reference noisy image)."""
from basicsr_noise.commands.train import add_plugin_flag
from basicsr_noise.data.generated_images import generate_noisy_images
from basicsr_noise.noise import GeneratorNoise
from basicsr_noise.utils.denoiser import default_device
from basicsr_noise.utils.errors import InputError
from basicsr_noise.utils.plugins import import_plugins

NAME = 'generate'
HELP = 'Generate realistic noisy images from clean ones with a trained generator checkpoint.'


def add_arguments(parser):
    parser.add_argument('--ckpt', required=True, help='Generator checkpoint written by basicsr-noise (net_g_*.pth).')
    parser.add_argument('--input', required=True, help='Clean images: a folder or a BasicSR LMDB (.lmdb).')
    parser.add_argument('--output', required=True, help='Output folder, or an LMDB when it ends with .lmdb.')
    parser.add_argument('--ref', default=None,
                        help='NoiseTransfer: the reference noisy image whose noise is transferred, or a folder / LMDB '
                        'of them (one drawn per image).')
    parser.add_argument('--num', type=int, default=1, help='Noisy realisations per clean image. Default: 1.')
    parser.add_argument('--seed', type=int, default=0, help='Image i draws with seed + i. Default: 0.')
    parser.add_argument('--param_key', default=None, help='params or params_ema. Default: params_ema if present.')
    parser.add_argument('--tile', type=int, default=None, help='Tile size of the generator for large images.')
    parser.add_argument('--tile_overlap', type=int, default=32, help='Tile overlap in pixels. Default: 32.')
    parser.add_argument('--device', default=None, help='cpu, cuda or cuda:N. Default: cuda if available.')
    parser.add_argument('--overwrite', action='store_true', help='Replace an existing output.')
    add_plugin_flag(parser)


def run(args):
    import_plugins(args.plugin)
    if args.num < 1:
        raise InputError(f'--num must be at least 1, got {args.num}.')
    noise = GeneratorNoise(args.ckpt, reference=args.ref, param_key=args.param_key, tile_size=args.tile,
                           tile_overlap=args.tile_overlap)
    count = generate_noisy_images(noise, args.input, args.output, args.num, args.seed, default_device(args.device),
                                  args.overwrite)
    print(f'Wrote {count} generated noisy images to {args.output}.')
