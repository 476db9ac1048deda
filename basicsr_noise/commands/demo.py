"""``basicsr-noise demo`` (``make demo``): methods trained on CPU through BasicSR on the embedded demo data.

It builds ``datasets/demo`` (:mod:`basicsr_noise.data.demo_data`: noisy-only training images and held-out noisy/clean
validation pairs made from images bundled with scikit-image), runs ``basicsr train`` and ``basicsr test`` with the
shipped ``options/demo/*.yml`` in subprocesses (exactly what a user types), and prints the PSNR of the noisy inputs
and of the denoised outputs of each method.
"""
import numpy as np
import os
import subprocess
import sys
import time
import yaml
from basicsr.metrics import calculate_psnr
from os import path as osp

from basicsr_noise.data.bundled_images import TEST_IMAGES, TRAIN_IMAGES
from basicsr_noise.data.demo_data import DEMO_CAMERA_NOISE, DEMO_SIGMA, build_demo_data, build_ntgan_demo_data
from basicsr_noise.data.generated_images import generate_paired_transfer
from basicsr_noise.evaluation.eval_noise import evaluate_noise
from basicsr_noise.evaluation.pgap import materialise_source
from basicsr_noise.models.pngan_model import PNGAN_INPUT_NOISE
from basicsr_noise.noise import GeneratorNoise
from basicsr_noise.utils.image_io import read_image
from basicsr_noise.utils.options import load_options, plain, shipped_options

NAME = 'demo'
HELP = 'Build the embedded demo data, train the methods on CPU, test and report PSNR.'


def add_arguments(parser):
    parser.add_argument('--root', default='.', help='Folder for datasets/demo, experiments/ and results/.')
    parser.add_argument('--method', choices=['all', *DEMOS, *EXTRA_DEMOS], default='all',
                        help=f'Which demo; all runs {", ".join(DEMOS)}. Default: all.')
    parser.add_argument('--iters', type=int, default=None, help='Override the number of training iterations.')


def run(args):
    run_demo(args)


def report(folder, result_folder, suffix, extra=()):
    """PSNR of the noisy inputs, the denoised outputs and extra outputs (``<name>_<suffix>_<extra>.png``)."""
    rows = []
    for name in TEST_IMAGES:
        clean = read_image(osp.join(folder, 'val', 'clean', f'{name}.png'))
        outputs = [read_image(osp.join(folder, 'val', 'noisy', f'{name}.png'))]
        outputs += [
            read_image(osp.join(result_folder, f'{name}_{suffix}{tail}.png'))
            for tail in ['', *(f'_{key}' for key in extra)]
        ]
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
    print(f'$ basicsr {verb} -opt {opt_file}' + (' --force_yml ...' if overrides else ''), flush=True)
    subprocess.run(cli + [verb, '-opt', opt_file, '--force_yml', *overrides], cwd=root, check=True)


def _iters(args):
    return [f'train:total_iter={args.iters}'] if args.iters else []


def demo_r2r(args, root, folder, cli):
    """R2R: one training run on the noisy images, then ``basicsr test`` with 8 recorruptions averaged."""
    _run(cli, 'train', shipped_options('demo', 'r2r_demo.yml'), _data_overrides(folder, 'train') + _iters(args), root)
    weights = osp.join(root, 'experiments', 'R2R_demo', 'models', 'net_g_latest.pth')
    _run(cli, 'test', shipped_options('demo', 'r2r_demo_test.yml'),
         _data_overrides(folder, 'test') + [f'path:pretrain_network_g={weights}'], root)
    rows = report(folder, osp.join(root, 'results', 'R2R_demo_test', 'visualization', 'demo_val'), 'R2R_demo')
    return print_report('R2R demo (trained on noisy images only)', ('noisy', 'denoised'), rows)


def demo_dbsn(args, root, folder, cli):
    """DBSN: blind-spot pre-training of mu, joint training with the likelihood, then Bayes-fused testing."""
    _run(cli, 'train', shipped_options('demo', 'dbsn_demo_mu.yml'),
         _data_overrides(folder, 'train') + _iters(args), root)
    mu_weights = osp.join(root, 'experiments', 'DBSN_demo_mu', 'models', 'net_g_latest.pth')
    _run(cli, 'train', shipped_options('demo', 'dbsn_demo.yml'),
         _data_overrides(folder, 'train') + [f'path:pretrain_network_g={mu_weights}'] + _iters(args), root)
    models = osp.join(root, 'experiments', 'DBSN_demo', 'models')
    _run(
        cli, 'test', shipped_options('demo', 'dbsn_demo_test.yml'),
        _data_overrides(folder, 'test') +
        [f'path:pretrain_network_{key}={models}/net_{key}_latest.pth' for key in ('g', 'sigma_mu', 'noise')], root)
    rows = report(
        folder, osp.join(root, 'results', 'DBSN_demo_test', 'visualization', 'demo_val'), 'DBSN_demo', extra=('mu', ))
    return print_report('DBSN demo (trained on noisy images only)', ('noisy', 'fused', 'D-BSN mu'), rows)


def demo_ntgan(args, root, folder, cli):
    """NTGAN: noise transference learnt from the noisy images alone, tested at noise level zero."""
    folder = build_ntgan_demo_data(root)
    print(f'NTGAN demo data: {folder} (in-camera noise {DEMO_CAMERA_NOISE})', flush=True)
    _run(cli, 'train', shipped_options('demo', 'ntgan_demo.yml'), _data_overrides(folder, 'train') + _iters(args),
         root)
    weights = osp.join(root, 'experiments', 'NTGAN_demo', 'models', 'net_g_latest.pth')
    _run(cli, 'test', shipped_options('demo', 'ntgan_demo_test.yml'),
         _data_overrides(folder, 'test') + [f'path:pretrain_network_g={weights}'], root)
    rows = report(folder, osp.join(root, 'results', 'NTGAN_demo_test', 'visualization', 'demo_val'), 'NTGAN_demo')
    return print_report('NTGAN demo (trained on noisy images only)', ('noisy', 'denoised'), rows)


def print_noise_report(title, columns, rows):
    print(f'\n{title}, AKLD / KS against the real noise (lower is better):')
    print(f'{"image":<12}' + ''.join(f'{c:>22}' for c in columns))
    for name, *values in rows:
        print(f'{name:<12}' + ''.join(f'{a:>13.3f} / {k:.3f}' for a, k in values))
    means = [(float(np.mean([v[i][0] for _, *v in rows])), float(np.mean([v[i][1] for _, *v in rows])))
             for i in range(len(columns))]
    print(f'{"mean":<12}' + ''.join(f'{a:>13.3f} / {k:.3f}' for a, k in means))
    return means


def demo_pngan(args, root, folder, cli):
    """PNGAN with no supervised model anywhere: D_d is the NTGAN demo's network (trained on noisy images alone; the
    NTGAN demo runs first when its checkpoint is missing), the generator learns the in-camera noise of the NTGAN demo
    pairs; its generated validation images are scored against the real ones, beside its AWGN sigma-50 input."""
    folder = build_ntgan_demo_data(root)
    dd = osp.join(root, 'experiments', 'NTGAN_demo', 'models', 'net_g_latest.pth')
    if not osp.isfile(dd):
        demo_ntgan(args, root, folder, cli)
    overrides = [f'datasets:train:dataroot_lq={folder}/train/noisy', f'datasets:train:dataroot_gt={folder}/train/clean',
                 f'datasets:val:dataroot_lq={folder}/val/noisy', f'datasets:val:dataroot_gt={folder}/val/clean',
                 f'path:pretrain_network_dd={dd}']
    _run(cli, 'train', shipped_options('demo', 'pngan_demo.yml'), overrides + _iters(args), root)
    generator = osp.join(root, 'experiments', 'PNGAN_demo', 'models', 'net_g_latest.pth')
    out = osp.join(root, 'results', 'PNGAN_demo')
    clean = osp.join(folder, 'val', 'clean')
    fake, awgn = osp.join(out, 'generated'), osp.join(out, 'input_awgn50')
    materialise_source({'type': 'GeneratorNoise', 'checkpoint': generator}, clean, fake, seed=0)
    materialise_source(PNGAN_INPUT_NOISE, clean, awgn, seed=0)
    reports = [evaluate_noise(clean, osp.join(folder, 'val', 'noisy'), f, figures=False) for f in (clean, awgn, fake)]
    rows = [(name, *((r['images'][name]['akld'], r['images'][name]['ks']) for r in reports)) for name in TEST_IMAGES]
    print(f'Generated images: {fake}', flush=True)
    return print_noise_report('PNGAN demo (D_d: the NTGAN demo network)', ('no noise', 'AWGN-50 input', 'generated'),
                              rows)


def demo_noisetransfer(args, root, folder, cli):
    """NoiseTransfer on the NTGAN demo pairs (one noise class) plus synthetic families; the validation images are
    generated from their own real noisy versions (the official paired evaluation) and scored against them."""
    folder = build_ntgan_demo_data(root)
    classes = osp.join(folder, 'train_classes.txt')
    with open(classes, 'w') as f:  # the simulator's images are one noise family
        f.writelines(f'{name} demo\n' for name in sorted(os.listdir(osp.join(folder, 'train', 'noisy'))))
    overrides = [f'datasets:val:dataroot_lq={folder}/val/noisy', f'datasets:val:dataroot_gt={folder}/val/clean']
    opt_file = _with_branch_paths(shipped_options('demo', 'noisetransfer_demo.yml'), folder, classes, root)
    _run(cli, 'train', opt_file, overrides + _iters(args), root)
    generator = osp.join(root, 'experiments', 'NoiseTransfer_demo', 'models', 'net_g_latest.pth')
    out = osp.join(root, 'results', 'NoiseTransfer_demo')
    clean, noisy = osp.join(folder, 'val', 'clean'), osp.join(folder, 'val', 'noisy')
    fake = osp.join(out, 'generated')
    generate_paired_transfer(GeneratorNoise(generator, reference=noisy, param_key='params'), clean, fake, seed=0)
    reports = [evaluate_noise(clean, noisy, f, figures=False) for f in (clean, fake)]
    rows = [(name, *((r['images'][name]['akld'], r['images'][name]['ks']) for r in reports)) for name in TEST_IMAGES]
    print(f'Generated images: {fake}', flush=True)
    return print_noise_report('NoiseTransfer demo (each image from its own noisy version)',
                              ('no noise', 'generated'), rows)


def _with_branch_paths(opt_file, folder, classes, root):
    """The demo option file with its training branches pointed at ``folder`` (a list cannot be overridden from the
    command line), written into ``root/experiments``."""
    opt = load_options(opt_file)
    for branch in opt['datasets']['train']['branches']:
        branch['dataroot_gt'] = osp.join(folder, 'train', 'clean')
        if 'dataroot_lq' in branch:
            branch.update(dataroot_lq=osp.join(folder, 'train', 'noisy'), reference_class_file=classes)
    path = osp.join(root, 'experiments', 'noisetransfer_demo.yml')
    os.makedirs(osp.dirname(path), exist_ok=True)
    with open(path, 'w') as f:
        yaml.safe_dump(plain(opt), f, sort_keys=False)
    return path


DEMOS = {'r2r': demo_r2r, 'dbsn': demo_dbsn, 'ntgan': demo_ntgan}
# not in `all` (make demo's time budget): basicsr-noise demo --method pngan / noisetransfer
EXTRA_DEMOS = {'pngan': demo_pngan, 'noisetransfer': demo_noisetransfer}


def run_demo(args):
    """Run the demos of ``args.method`` (one name, or ``all``); returns ``{method: mean scores}``."""
    root = osp.abspath(args.root)
    start = time.time()
    folder = build_demo_data(root)
    print(
        f'Demo data: {folder} (train: {len(TRAIN_IMAGES)} noisy-only images; val: {len(TEST_IMAGES)} pairs; '
        f'AWGN sigma {DEMO_SIGMA})',
        flush=True)
    cli = [sys.executable, '-m', 'basicsr_noise']
    methods = list(DEMOS) if args.method == 'all' else [args.method]
    results = {method: {**DEMOS, **EXTRA_DEMOS}[method](args, root, folder, cli) for method in methods}
    print(f'\nResults: {osp.join(root, "results")}\nTotal time: {time.time() - start:.0f} s')
    return results
