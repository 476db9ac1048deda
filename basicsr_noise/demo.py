"""The embedded demo: data from images bundled with scikit-image, R2R and DBSN trained on CPU through BasicSR.

``basicsr-noise demo`` (``make demo``) builds ``datasets/demo`` (noisy-only training images and held-out
noisy/clean validation pairs with AWGN sigma 25 at fixed seeds), runs ``basicsr train`` and ``basicsr test`` with
``options/demo/*.yml`` in subprocesses (exactly what a user types), and prints the PSNR of the noisy inputs and of
the denoised outputs of each method.
"""
import cv2
import numpy as np
import os
import subprocess
import sys
import time
from basicsr.metrics import calculate_psnr
from os import path as osp
from skimage import data as skdata

# Only loaders whose images ship inside scikit-image (never the download-backed ones).
DEMO_TRAIN = ('astronaut', 'coffee', 'immunohistochemistry', 'rocket', 'hubble_deep_field', 'retina')
DEMO_VAL = ('chelsea', 'motorcycle')
DEMO_SIGMA = 25
DEMO_SEED = 2021
MAX_SIDE = 512
REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
DEMO_OPTIONS = osp.join(REPO, 'options', 'demo')


def bundled_image(name):
    """An RGB uint8 image bundled with scikit-image, at most ``MAX_SIDE`` pixels on its longer side."""
    img = skdata.stereo_motorcycle()[0] if name == 'motorcycle' else getattr(skdata, name)()
    img = np.ascontiguousarray(img[..., :3])
    scale = MAX_SIDE / max(img.shape[:2])
    if scale < 1:
        img = cv2.resize(img, (round(img.shape[1] * scale), round(img.shape[0] * scale)), interpolation=cv2.INTER_AREA)
    return img


def add_awgn_uint8(img, sigma, seed):
    """AWGN on the 0-255 scale at a fixed seed, clipped and rounded to uint8 as a saved noisy photo is."""
    rng = np.random.default_rng(seed)
    noisy = img.astype(np.float64) + rng.normal(0, sigma, img.shape)
    return np.clip(np.round(noisy), 0, 255).astype(np.uint8)


def _write(path, rgb):
    os.makedirs(osp.dirname(path), exist_ok=True)
    if not cv2.imwrite(path, cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)):
        raise OSError(f'Cannot write {path}.')


def build_demo_data(root, sigma=DEMO_SIGMA, seed=DEMO_SEED):
    """Write ``<root>/datasets/demo/r2r/{train/noisy, val/noisy, val/clean}``; returns the demo folder."""
    folder = osp.join(root, 'datasets', 'demo', 'r2r')
    if osp.isfile(osp.join(folder, 'DONE')):
        return folder
    tmp = folder + '.tmp'
    for i, name in enumerate(DEMO_TRAIN):
        _write(osp.join(tmp, 'train', 'noisy', f'{name}.png'), add_awgn_uint8(bundled_image(name), sigma, seed + i))
    for i, name in enumerate(DEMO_VAL):
        clean = bundled_image(name)
        h, w = clean.shape[:2]
        clean = clean[(h - 256) // 2:(h - 256) // 2 + 256, (w - 256) // 2:(w - 256) // 2 + 256]
        _write(osp.join(tmp, 'val', 'clean', f'{name}.png'), clean)
        _write(osp.join(tmp, 'val', 'noisy', f'{name}.png'), add_awgn_uint8(clean, sigma, seed + 100 + i))
    with open(osp.join(tmp, 'DONE'), 'w') as f:
        f.write(f'AWGN sigma {sigma}, seed {seed}\n')
    if osp.exists(folder):
        import shutil
        shutil.rmtree(folder)
    os.replace(tmp, folder)
    return folder


def _read_rgb(path):
    img = cv2.imread(path, cv2.IMREAD_COLOR)
    if img is None:
        raise FileNotFoundError(f'Cannot read {path}.')
    return img


def report(folder, result_folder, suffix, extra=()):
    """PSNR of the noisy inputs, the denoised outputs and extra outputs (``<name>_<suffix>_<extra>.png``)."""
    rows = []
    for name in DEMO_VAL:
        clean = _read_rgb(osp.join(folder, 'val', 'clean', f'{name}.png'))
        outputs = [_read_rgb(osp.join(folder, 'val', 'noisy', f'{name}.png'))]
        outputs += [_read_rgb(osp.join(result_folder, f'{name}_{suffix}{tail}.png'))
                    for tail in ['', *(f'_{key}' for key in extra)]]
        rows.append((name, *(calculate_psnr(img, clean, 0) for img in outputs)))
    return rows


def print_report(title, columns, rows):
    print(f'\n{title}, PSNR in dB against the clean images:')
    print(f'{"image":<12}' + ''.join(f'{c:>10}' for c in columns))
    for name, *values in rows:
        print(f'{name:<12}' + ''.join(f'{v:10.2f}' for v in values))
    means = [float(np.mean(col)) for col in list(zip(*rows))[1:]]
    print(f'{"mean":<12}' + ''.join(f'{v:10.2f}' for v in means))
    return means


def _data_overrides(folder, phase):
    """``--force_yml`` entries pointing an option file's datasets at the demo data (``train`` or ``test`` file)."""
    pairs = [f'datasets:{{}}:dataroot_lq={folder}/val/noisy', f'datasets:{{}}:dataroot_gt={folder}/val/clean']
    if phase == 'train':
        return [f'datasets:train:dataroot_lq={folder}/train/noisy'] + [p.format('val') for p in pairs]
    return [p.format('test') for p in pairs]


def _run(cli, verb, opt_file, overrides, root):
    print(f'$ basicsr {verb} -opt {osp.relpath(opt_file, REPO)}' + (' --force_yml ...' if overrides else ''),
          flush=True)
    subprocess.run(cli + [verb, '-opt', opt_file, '--force_yml', *overrides], cwd=root, check=True)


def _iters(args):
    return [f'train:total_iter={args.iters}'] if args.iters else []


def demo_r2r(args, root, folder, cli):
    """R2R: one training run on the noisy images, then ``basicsr test`` with 8 recorruptions averaged."""
    _run(cli, 'train', osp.join(DEMO_OPTIONS, 'r2r_demo.yml'), _data_overrides(folder, 'train') + _iters(args), root)
    weights = osp.join(root, 'experiments', 'R2R_demo', 'models', 'net_g_latest.pth')
    _run(cli, 'test', osp.join(DEMO_OPTIONS, 'r2r_demo_test.yml'),
         _data_overrides(folder, 'test') + [f'path:pretrain_network_g={weights}'], root)
    rows = report(folder, osp.join(root, 'results', 'R2R_demo_test', 'visualization', 'demo_val'), 'R2R_demo')
    return print_report('R2R demo (trained on noisy images only)', ('noisy', 'denoised'), rows)


def demo_dbsn(args, root, folder, cli):
    """DBSN: blind-spot pre-training of mu, joint training with the likelihood, then Bayes-fused testing."""
    train_opt = osp.join(DEMO_OPTIONS, 'dbsn_demo.yml')
    _run(cli, 'train', train_opt,
         _data_overrides(folder, 'train') + ['dbsn:stage=mu', 'name=DBSN_demo_mu'] + _iters(args), root)
    mu_weights = osp.join(root, 'experiments', 'DBSN_demo_mu', 'models', 'net_g_latest.pth')
    _run(cli, 'train', train_opt,
         _data_overrides(folder, 'train') + [f'path:pretrain_network_g={mu_weights}'] + _iters(args), root)
    models = osp.join(root, 'experiments', 'DBSN_demo', 'models')
    _run(cli, 'test', osp.join(DEMO_OPTIONS, 'dbsn_demo_test.yml'), _data_overrides(folder, 'test') + [
        f'path:pretrain_network_{key}={models}/net_{key}_latest.pth' for key in ('g', 'sigma_mu', 'noise')
    ], root)
    rows = report(folder, osp.join(root, 'results', 'DBSN_demo_test', 'visualization', 'demo_val'), 'DBSN_demo',
                  extra=('mu', ))
    return print_report('DBSN demo (trained on noisy images only)', ('noisy', 'fused', 'D-BSN mu'), rows)


DEMOS = {'r2r': demo_r2r, 'dbsn': demo_dbsn}


def run_demo(args):
    """Run the demos of ``args.method`` (``r2r``, ``dbsn`` or ``all``); returns ``{method: mean PSNRs}``."""
    root = osp.abspath(args.root)
    start = time.time()
    folder = build_demo_data(root)
    print(f'Demo data: {folder} (train: {len(DEMO_TRAIN)} noisy-only images; val: {len(DEMO_VAL)} pairs; '
          f'AWGN sigma {DEMO_SIGMA})', flush=True)
    cli = [sys.executable, '-m', 'basicsr_noise']
    methods = list(DEMOS) if args.method == 'all' else [args.method]
    results = {method: DEMOS[method](args, root, folder, cli) for method in methods}
    print(f'\nResults: {osp.join(root, "results")}\nTotal time: {time.time() - start:.0f} s')
    return results
