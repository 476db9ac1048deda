"""``basicsr-noise infer``: denoise an image or a folder with a trained model, tiled, with a progress bar."""
import cv2
import numpy as np
import os
from basicsr.utils import img2tensor, tensor2img
from os import path as osp
from tqdm import tqdm

from basicsr_noise.commands.train import add_plugin_flag
from basicsr_noise.utils.denoiser import load_denoiser
from basicsr_noise.utils.image_io import list_images, read_image, write_image
from basicsr_noise.utils.plugins import import_plugins

NAME = 'infer'
HELP = 'Denoise an image or a folder with a trained model.'


def add_denoiser_arguments(parser, results=False):
    """The flags that choose a denoiser (shared with ``submit``); ``results`` adds ``--results`` to the choice."""
    src = parser.add_mutually_exclusive_group(required=True)
    src.add_argument('--opt', help='Option file of the model (test-time settings such as R2R averaging apply).')
    src.add_argument('--ckpt', help='Checkpoint written by basicsr-noise (the network options are stored in it).')
    if results:
        src.add_argument('--results', help='Folder of denoised images: SIDD SS_BB.png, DND %%04d_%%02d.png.')
    parser.add_argument('--weights', help='With --opt: checkpoint to load instead of path.pretrain_network_g.')
    parser.add_argument('--param_key', default=None, help='params or params_ema. Default: params_ema if present.')
    parser.add_argument('--tile', type=int, default=None, help='Tile size for large images. Default: no tiling.')
    parser.add_argument('--tile_overlap', type=int, default=32, help='Tile overlap in pixels. Default: 32.')
    parser.add_argument('--device', default=None, help='cpu, cuda or cuda:N. Default: cuda if available.')
    add_plugin_flag(parser)


def denoiser_from_args(args):
    import_plugins(args.plugin)
    return load_denoiser(args.opt, args.ckpt, args.device, args.weights, args.param_key, args.tile, args.tile_overlap)


def add_arguments(parser):
    parser.add_argument('-i', '--input', required=True, help='Image file or folder.')
    parser.add_argument('-o', '--output', required=True, help='Output folder.')
    add_denoiser_arguments(parser)
    parser.add_argument('--suffix', default='', help='Suffix of the output file names.')


def run(args):
    denoiser = denoiser_from_args(args)
    files = list_images(args.input)
    os.makedirs(args.output, exist_ok=True)
    for path in tqdm(files, unit='image', desc='Denoising'):
        img = read_image(path, cv2.IMREAD_GRAYSCALE if denoiser.grey else cv2.IMREAD_COLOR)
        img = img[..., None] if img.ndim == 2 else img
        x = img2tensor(img.astype(np.float32) / 255., bgr2rgb=not denoiser.grey, float32=True)[None]
        out = tensor2img(denoiser(x).cpu(), rgb2bgr=not denoiser.grey)
        name = osp.splitext(osp.basename(path))[0]
        write_image(osp.join(args.output, f'{name}{args.suffix}.png'), out)
