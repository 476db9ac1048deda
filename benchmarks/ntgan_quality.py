"""NTGAN quality benchmark: blind denoising learnt from noisy images alone, against N2C, BM3D, DBSN and R2R.

Two kinds of "real" noise on the same images, the tiles of the simulated camera benchmark (``prepare camsim``:
images bundled with scikit-image, 38 paired 128x128 training tiles, 14 test tiles of two other images):

* **matched**: CBDNet/NTGAN in-camera noise (DoRF curves, shot and read levels drawn per tile and channel from
  the release's range [0, 25/255]): NTGAN's own simulator family and prior;
* **mismatched**: the camsim noise itself (Brooks et al.'s camera pipeline with SIDD noise-level functions), which
  is not the simulator NTGAN trains with.

Every learnt method trains through ``basicsr train`` with the same budget (iterations, batch, patch, Adam and its
schedule), on the noisy versions of the same training tiles:

* ``ntgan``: ``NTGANModel`` (the shipped recipe, ``options/ntgan/``), noisy tiles only;
* ``n2c``: the same network trained on the noisy/clean pairs (``SynthNoiseDenoiserModel``, MSE): the upper bound;
* ``dbsn``: ``DBSNModel`` with its per-pixel noise model, noisy tiles only, half the budget for the blind-spot
  stage and half for the joint stage; the Bayes-fused estimate is scored;
* ``r2r``: ``R2RModel`` with the true per-pixel noise standard deviation of every training tile (matched: the
  simulator's exact map; camsim: 128 re-simulations of each tile with its recorded camera parameters);
* ``bm3d``: CBM3D (the ``bm3d`` package) given the true per-channel noise standard deviation of each test tile
  (an oracle);
* ``bm3d_blind``: the same CBM3D with the per-channel standard deviation estimated from the noisy tile alone
  (scikit-image's ``estimate_sigma``, wavelet MAD): the baseline a user without clean images has.

Networks are CPU-sized: NTGANNet at 32 features (883k parameters; the release has 64), DnCNN-17 at 48 features,
D-BSN at 48 features. PSNR is BasicSR's (RGB, rounded to uint8, no border crop) per test tile, averaged.

    python benchmarks/ntgan_quality.py --iters 2000 --out docs/results/ntgan_quality.json
"""
import basicsr_noise  # noqa: F401  # isort: skip  (first: basicsr 1.4.2 needs its shims)
import argparse
import copy
import json
import numpy as np
import os
import sys
import torch
import yaml
from basicsr.metrics import calculate_psnr
from basicsr.utils import img2tensor, tensor2img
from benchmark_io import save_results, train_through_basicsr
from os import path as osp

from basicsr_noise.evaluation.camsim import prepare_camsim
from basicsr_noise.noise import build_noise
from basicsr_noise.noise.bayer import PATTERNS
from basicsr_noise.noise.camera import simulate_camera
from basicsr_noise.utils.denoiser import ModelDenoiser, NetworkDenoiser
from basicsr_noise.utils.image_io import read_image, write_image
from basicsr_noise.utils.options import load_options

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
DORF = osp.join(osp.dirname(REPO), 'shared', 'data', 'dorf')
MATCHED_NOISE = {'type': 'CRFCameraNoise', 'sigma_s': [0, 25 / 255.], 'sigma_c': [0, 25 / 255.], 'crf': 'dorf',
                 'dorf_dir': DORF}
NTGAN_WIDTH = 32
DNCNN = {'type': 'R2RDnCNN', 'num_in_ch': 3, 'num_feat': 48, 'num_layers': 17}
DBSN = {'network_g': {'type': 'DBSNNet', 'num_in_ch': 3, 'num_feat': 48, 'num_blocks': 2},
        'network_sigma_mu': {'type': 'DBSNSigmaMuNet', 'num_feat': 48, 'num_mid': 16, 'num_out': 3},
        'network_noise': {'type': 'DBSNNoiseEstimator', 'num_in_ch': 3, 'num_mid': 16, 'num_out': 3}}
PATCH, BATCH, LR = 64, 8, 1e-3
METHODS = ('ntgan', 'n2c', 'dbsn', 'r2r', 'bm3d', 'bm3d_blind')
BM3D = ('bm3d', 'bm3d_blind')


# ----------------------------------------------------------------------------------------------- data
def _rgb_tensor(bgr):
    return img2tensor(bgr.astype(np.float32) / 255., bgr2rgb=True)[None]


def _save_std(path, std):
    np.save(path, (std[0].permute(1, 2, 0).numpy() * 255.).astype(np.float32))  # RGB, 0-255, as dataroot_noise_map


def build_matched(camsim, out):
    """camsim's clean tiles with one CRF camera-noise draw each (seeded), and the simulator's exact std maps."""
    if osp.isfile(osp.join(out, 'DONE')):
        return out
    noise = build_noise(MATCHED_NOISE)
    for split in ('train', 'test'):
        for i, name in enumerate(sorted(os.listdir(osp.join(camsim, split, 'clean')))):
            clean = read_image(osp.join(camsim, split, 'clean', name))
            sample = noise(_rgb_tensor(clean), torch.Generator().manual_seed(10000 * (split == 'test') + i))
            write_image(osp.join(out, split, 'noisy', name), tensor2img(sample.noisy.clamp(0, 1)))
            write_image(osp.join(out, split, 'clean', name), clean)
            os.makedirs(osp.join(out, split, 'std'), exist_ok=True)
            _save_std(osp.join(out, split, 'std', osp.splitext(name)[0] + '.npy'), sample.std)
    open(osp.join(out, 'DONE'), 'w').write(json.dumps(MATCHED_NOISE))
    return out


def camsim_std_maps(camsim, out, draws=128):
    """The per-pixel noise std of each camsim training tile: its camera run ``draws`` times with its recorded
    parameters (only the raw noise differs between runs), in the noisy tiles' 8-bit scale."""
    if osp.isfile(osp.join(out, 'DONE')):
        return out
    manifest = json.load(open(osp.join(camsim, 'camsim.json')))
    os.makedirs(out, exist_ok=True)
    generator = torch.Generator().manual_seed(0)
    for name in sorted(os.listdir(osp.join(camsim, 'train', 'clean'))):
        tile = manifest['tiles'][f'train/{osp.splitext(name)[0]}']
        x = _rgb_tensor(read_image(osp.join(camsim, 'train', 'clean', name))).double().expand(draws, -1, -1, -1)
        params = {k: torch.tensor([tile[k]], dtype=torch.float64).expand(draws, *np.shape(tile[k]))
                  for k in ('rgb2cam', 'red_gain', 'blue_gain', 'rgb_gain')}
        shot, read = (torch.full((draws, ), tile[k], dtype=torch.float64) for k in ('shot', 'read'))
        eps = torch.randn((draws, 1, *x.shape[-2:]), generator=generator, dtype=torch.float64)
        noisy = simulate_camera(x, params, shot, read, eps, tile['pattern'] if tile['pattern'] in PATTERNS else 'RGGB')
        stored = (noisy.clamp(0, 1) * 255.).round() / 255.  # camsim stores uint8 tiles
        _save_std(osp.join(out, osp.splitext(name)[0] + '.npy'), stored.std(0, keepdim=True).float())
    open(osp.join(out, 'DONE'), 'w').write(f'{draws} draws per tile\n')
    return out


# ----------------------------------------------------------------------------------------------- options
def _train_set(data, with_clean=False, **extra):
    opt = {'name': 'train', 'type': 'NoisyImageDataset', 'dataroot_lq': osp.join(data, 'train', 'noisy'),
           'io_backend': {'type': 'disk'}, 'gt_size': PATCH, 'use_hflip': True, 'use_rot': True,
           'num_worker_per_gpu': 1, 'batch_size_per_gpu': BATCH, 'dataset_enlarge_ratio': 200, 'prefetch_mode': None}
    if with_clean:
        opt['dataroot_gt'] = osp.join(data, 'train', 'clean')
    return dict(opt, **extra)


def _common(name, iters):
    return {
        'name': name, 'scale': 1, 'num_gpu': 0, 'manual_seed': 0,
        'path': {'pretrain_network_g': None, 'strict_load_g': True, 'resume_state': None},
        'train': {'ema_decay': 0, 'optim_g': {'type': 'Adam', 'lr': LR, 'betas': [0.9, 0.99]},
                  'scheduler': {'type': 'CosineAnnealingLR', 'T_max': iters, 'eta_min': 1e-6}, 'total_iter': iters,
                  'warmup_iter': -1, 'pixel_opt': {'type': 'MSELoss', 'loss_weight': 1.0, 'reduction': 'mean'}},
        'logger': {'print_freq': 100, 'save_checkpoint_freq': iters, 'use_tb_logger': False},
        'dist_params': {'backend': 'gloo', 'port': 29500},
    }


def ntgan_options(name, data, iters, noise_opt):
    """The shipped recipe (options/ntgan/ntgan.yml), CPU-sized, on this data, with the simulator ``noise_opt``."""
    shipped = load_options(osp.join(REPO, 'options', 'ntgan', 'ntgan.yml'))
    opt = _common(name, iters)
    opt.update(model_type='NTGANModel', ntgan=dict(shipped['ntgan'], noise_opt=noise_opt),
               datasets={'train': _train_set(data)},
               network_g=dict(shipped['network_g'], num_feat=NTGAN_WIDTH),
               network_d=dict(shipped['network_d'], num_feat=NTGAN_WIDTH))
    train = copy.deepcopy(shipped['train'])
    train.update(total_iter=iters, ema_decay=0, scheduler=opt['train']['scheduler'])
    for key in ('optim_g', 'optim_d'):
        train[key]['lr'] = LR
    opt['train'] = train
    return opt


def method_options(method, data, std_maps, iters, tag):
    """``[(run name, option dict)]`` of one method on one kind of noise (DBSN has two runs)."""
    name = f'{tag}_{method}'
    if method == 'ntgan':
        return [(name, ntgan_options(name, data, iters, MATCHED_NOISE))]
    if method == 'n2c':
        opt = _common(name, iters)
        opt.update(model_type='SynthNoiseDenoiserModel', datasets={'train': _train_set(data, with_clean=True)},
                   network_g={'type': 'NTGANNet', 'num_feat': NTGAN_WIDTH})
        return [(name, opt)]
    if method == 'r2r':
        opt = _common(name, iters)
        opt.update(model_type='R2RModel', datasets={'train': _train_set(data, dataroot_noise_map=std_maps)},
                   network_g=DNCNN, r2r={'alpha': 0.5, 'noise': {'type': 'dataset'}})
        return [(name, opt)]
    runs = []
    for stage, stage_iters in (('mu', iters // 2), ('joint', iters - iters // 2)):
        opt = _common(f'{name}_{stage}', stage_iters)
        opt.update(model_type='DBSNModel', datasets={'train': _train_set(data)},
                   dbsn={'noise_model': 'hetero', 'stage': stage}, **copy.deepcopy(DBSN))
        opt['train']['likelihood_opt'] = {'type': 'DBSNLikelihoodLoss', 'mode': 'constrained'}
        if stage == 'joint':
            opt['path']['pretrain_network_g'] = osp.join('experiments', f'{name}_mu', 'models', 'net_g_latest.pth')
        runs.append((f'{name}_{stage}', opt))
    return runs


def train(work, run, opt, reuse=False):
    """Train one run through ``basicsr train``; returns its seconds (None when ``reuse`` finds it trained already)."""
    if reuse and osp.isfile(osp.join(work, 'experiments', run, 'models', 'net_g_latest.pth')):
        return None
    return train_through_basicsr(work, run, opt)


# ----------------------------------------------------------------------------------------------- scoring
def denoiser_of(method, work, tag, opt):
    models = osp.join(work, 'experiments', f'{tag}_{method}' + ('_joint' if method == 'dbsn' else ''), 'models')
    if method != 'dbsn':
        return NetworkDenoiser(osp.join(models, 'net_g_latest.pth'), torch.device('cpu'))
    test_opt = copy.deepcopy(opt)
    test_opt['path'].update({f'pretrain_network_{k}': osp.join(models, f'net_{k}_latest.pth')
                             for k in ('g', 'sigma_mu', 'noise')})
    test_path = osp.join(work, f'{tag}_dbsn_test.yml')
    with open(test_path, 'w') as f:
        yaml.safe_dump(test_opt, f)
    return ModelDenoiser(test_path, torch.device('cpu'))


def bm3d_denoise(noisy_bgr, clean_bgr, blind=False):
    """CBM3D with the true per-channel noise std (the oracle) or, ``blind``, the std estimated from the noisy image."""
    import bm3d
    noisy, clean = noisy_bgr[..., ::-1] / 255., clean_bgr[..., ::-1] / 255.
    if blind:
        from skimage.restoration import estimate_sigma
        sigma = np.asarray(estimate_sigma(noisy, channel_axis=-1, average_sigmas=False))
    else:
        sigma = (noisy - clean).reshape(-1, 3).std(0)
    return np.clip(bm3d.bm3d_rgb(noisy, sigma), 0, 1)[..., ::-1] * 255.


def score(method, data, work, tag, runs):
    names = sorted(os.listdir(osp.join(data, 'test', 'noisy')))
    denoise = None if method in BM3D else denoiser_of(method, work, tag, runs[-1][1])
    psnr = {}
    for name in names:
        noisy, clean = (read_image(osp.join(data, 'test', kind, name)) for kind in ('noisy', 'clean'))
        if denoise is None:
            out = np.round(bm3d_denoise(noisy, clean, blind=method == 'bm3d_blind')).astype(np.uint8)
        else:
            with torch.no_grad():
                out = tensor2img(denoise(_rgb_tensor(noisy)).clamp(0, 1))
        psnr[osp.splitext(name)[0]] = calculate_psnr(out, clean, 0)
    psnr['mean'] = float(np.mean(list(psnr.values())))
    return psnr


def noisy_psnr(data):
    values = []
    for name in sorted(os.listdir(osp.join(data, 'test', 'noisy'))):
        noisy, clean = (read_image(osp.join(data, 'test', kind, name)) for kind in ('noisy', 'clean'))
        values.append(calculate_psnr(noisy, clean, 0))
    return float(np.mean(values))


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--iters', type=int, default=2000, help='Training budget of every learnt denoiser.')
    parser.add_argument('--noise', nargs='+', default=['matched', 'mismatched'], choices=['matched', 'mismatched'])
    parser.add_argument('--methods', nargs='+', default=list(METHODS), choices=METHODS)
    parser.add_argument('--work', default='benchmarks/_work/ntgan_quality')
    parser.add_argument('--out', default='docs/results/ntgan_quality.json')
    parser.add_argument('--reuse', action='store_true', help='Score runs already trained in --work, train the rest.')
    args = parser.parse_args()
    if not osp.isdir(DORF):
        sys.exit(f'The DoRF curves are needed at {DORF} (201_CRF_data.mat, dorfCurvesInv.mat; datasets/README.md).')
    work = osp.abspath(args.work)
    os.makedirs(work, exist_ok=True)
    camsim = osp.join(work, 'camsim')
    if not osp.isdir(camsim):
        prepare_camsim(camsim)
    needs_std = 'r2r' in args.methods  # the true per-pixel std maps: R2R's input only (slow for camsim)
    kinds = {
        'matched': lambda: (build_matched(camsim, osp.join(work, 'matched')),
                            osp.join(work, 'matched', 'train', 'std')),
        'mismatched': lambda: (camsim, camsim_std_maps(camsim, osp.join(work, 'camsim_std')) if needs_std else None)
    }
    results = {'setting': {'iters': args.iters, 'batch': BATCH, 'patch': PATCH, 'lr': LR, 'schedule': 'cosine',
                           'ntgan_width': NTGAN_WIDTH, 'dncnn': DNCNN, 'dbsn': DBSN, 'matched_noise': MATCHED_NOISE,
                           'dbsn_split': 'half stage mu, half stage joint', 'torch': torch.__version__}}
    for kind in args.noise:
        data, std_maps = kinds[kind]()
        entry = {'noisy': noisy_psnr(data), 'psnr': {}, 'train_seconds': {}}
        for method in args.methods:
            runs = [] if method in BM3D else method_options(method, data, std_maps, args.iters, kind)
            for run, opt in runs:
                entry['train_seconds'][run] = train(work, run, opt, args.reuse)
                print(f'{kind} {run}: {opt["train"]["total_iter"]} iterations in {entry["train_seconds"][run]} s',
                      flush=True)
            entry['psnr'][method] = score(method, data, work, kind, runs)
            print(f'{kind} {method}: {entry["psnr"][method]["mean"]:.2f} dB (noisy {entry["noisy"]:.2f})', flush=True)
        psnr = {m: v['mean'] for m, v in entry['psnr'].items()}
        if 'ntgan' in psnr:
            entry['ntgan_minus'] = {m: round(psnr['ntgan'] - v, 3) for m, v in psnr.items() if m != 'ntgan'}
        results[kind] = entry
    save_results(results, args.out)


if __name__ == '__main__':
    main()
