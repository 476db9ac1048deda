"""``basicsr-noise infer``: denoise an image or a folder with a trained model, tiled, with a progress bar."""
import cv2
import numpy as np
import os
import torch
from basicsr.archs import build_network
from basicsr.models import build_model
from basicsr.utils import img2tensor, tensor2img
from os import path as osp
from tqdm import tqdm

from basicsr_noise.data.image_source import IMG_EXTENSIONS
from basicsr_noise.utils.checkpoint import load_checkpoint_file
from basicsr_noise.utils.option_check import load_options
from basicsr_noise.utils.tiling import tiled_forward


def list_images(path):
    """One image file, or the image files of a folder (sorted)."""
    if osp.isfile(path):
        return [path]
    if not osp.isdir(path):
        raise FileNotFoundError(f'Input {path} does not exist.')
    files = sorted(osp.join(path, f) for f in os.listdir(path) if f.lower().endswith(IMG_EXTENSIONS))
    if not files:
        raise FileNotFoundError(f'No images in {path}.')
    return files


def _pick_params(ckpt, path, param_key):
    keys = [param_key] if param_key else ['params_ema', 'params']
    for key in keys:
        if key in ckpt:
            return ckpt[key]
    raise KeyError(f'Checkpoint {path} has none of the parameter keys {keys}.')


class NetworkDenoiser:
    """A bare network from a basicsr-noise checkpoint (arch options stored under ``meta``)."""

    def __init__(self, ckpt_path, device, param_key=None, tile=None, tile_overlap=32):
        ckpt = load_checkpoint_file(ckpt_path)
        network_opt = (ckpt.get('meta') or {}).get('network_g')
        if network_opt is None:
            raise ValueError(f'Checkpoint {ckpt_path} stores no network options (meta.network_g); use --opt with '
                             'the option file it was trained with.')
        self.net = build_network(dict(network_opt)).to(device).eval()
        self.net.load_state_dict(_pick_params(ckpt, ckpt_path, param_key))
        self.device, self.tile, self.tile_overlap = device, tile, tile_overlap
        self.grey = network_opt.get('num_in_ch', 3) == 1

    @torch.no_grad()
    def __call__(self, x):
        return tiled_forward(self.net, x.to(self.device), self.tile, self.tile_overlap)


class ModelDenoiser:
    """A whole model built from its option file, so that its test-time procedure (e.g. R2R averaging) applies."""

    def __init__(self, opt_path, device, weights=None, param_key=None, tile=None, tile_overlap=32):
        opt = load_options(opt_path)
        opt.update(is_train=False, dist=False, rank=0, world_size=1, num_gpu=1 if device.type == 'cuda' else 0)
        opt.setdefault('path', {})
        if weights is not None:
            opt['path']['pretrain_network_g'] = weights
        if not opt['path'].get('pretrain_network_g'):
            raise ValueError(f'{opt_path}: path.pretrain_network_g is not set; pass --weights.')
        opt['path']['param_key_g'] = param_key or opt['path'].get('param_key_g', 'params')
        opt['val'] = dict(opt.get('val') or {}, tile_size=tile, tile_overlap=tile_overlap)
        self.model = build_model(opt)
        self.grey = opt['network_g'].get('num_in_ch', 3) == 1

    @torch.no_grad()
    def __call__(self, x):
        self.model.feed_val_data({'lq': x})
        self.model.test()
        return self.model.output


def run_inference(args):
    device = torch.device(args.device or ('cuda' if torch.cuda.is_available() else 'cpu'))
    if args.opt:
        denoiser = ModelDenoiser(args.opt, device, args.weights, args.param_key, args.tile, args.tile_overlap)
    else:
        denoiser = NetworkDenoiser(args.ckpt, device, args.param_key, args.tile, args.tile_overlap)
    files = list_images(args.input)
    os.makedirs(args.output, exist_ok=True)
    for path in tqdm(files, unit='image', desc='Denoising'):
        img = cv2.imread(path, cv2.IMREAD_GRAYSCALE if denoiser.grey else cv2.IMREAD_COLOR)
        if img is None:
            raise ValueError(f'Cannot decode image {path}.')
        if img.ndim == 2:
            img = img[..., None]
        x = img2tensor(img.astype(np.float32) / 255., bgr2rgb=not denoiser.grey, float32=True)[None]
        out = tensor2img(denoiser(x).cpu(), rgb2bgr=not denoiser.grey)
        name = osp.splitext(osp.basename(path))[0]
        cv2.imwrite(osp.join(args.output, f'{name}{args.suffix}.png'), out)
