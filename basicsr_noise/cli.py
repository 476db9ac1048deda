"""The ``basicsr`` / ``basicsr-noise`` command.

``train`` and ``test`` hand BasicSR's own flags to ``basicsr.train.train_pipeline`` / ``basicsr.test.test_pipeline``
with the current directory as root, after importing every plugin registered in the entry-point group
``basicsr.plugins`` and checking the option file. Multi-process training: ``torchrun --nproc_per_node=N -m
basicsr_noise train -opt X.yml --launcher pytorch``.
"""
import argparse
import os
import sys
import warnings
from importlib import metadata

PLUGIN_GROUP = 'basicsr.plugins'


def load_plugins():
    """Import this package (compat shims first) and every plugin registered under ``basicsr.plugins``."""
    import basicsr_noise  # noqa: F401  (shims before any other plugin imports basicsr)
    loaded = []
    for entry_point in metadata.entry_points(group=PLUGIN_GROUP):
        try:
            entry_point.load()
        except Exception as e:  # noqa: BLE001 (a broken third-party plugin must not hide which one it is)
            raise RuntimeError(f'Cannot import the BasicSR plugin {entry_point.name!r} ({entry_point.value}): {e}') \
                from e
        loaded.append(entry_point.value)
    return loaded


def _add_basicsr_flags(parser):
    parser.add_argument('-opt', required=True, help='Path to the option YAML file.')
    parser.add_argument('--launcher', choices=['none', 'pytorch', 'slurm'], default='none', help='Job launcher.')
    parser.add_argument('--auto_resume', action='store_true', help='Resume from the newest training state.')
    parser.add_argument('--debug', action='store_true', help='Debug mode (frequent logs, validation, checkpoints).')
    parser.add_argument('--local_rank', type=int, default=0, help='Set by old launchers; torchrun needs none.')
    parser.add_argument('--force_yml', nargs='+', default=None, help='Override options, e.g. train:ema_decay=0.999')


def _basicsr_argv(args):
    argv = ['-opt', args.opt, '--launcher', args.launcher, '--local_rank', str(args.local_rank)]
    argv += ['--auto_resume'] if getattr(args, 'auto_resume', False) else []
    argv += ['--debug'] if getattr(args, 'debug', False) else []
    argv += ['--force_yml', *args.force_yml] if args.force_yml else []
    return argv


def _preflight(args, is_train):
    from basicsr_noise.compat import set_dist_backend
    from basicsr_noise.utils.option_check import apply_force_yml, check_datasets, check_options, load_options
    opt = apply_force_yml(load_options(args.opt), args.force_yml)
    check_options(opt, args.opt, is_train=is_train)
    check_datasets(opt, args.opt)
    set_dist_backend((opt.get('dist_params') or {}).get('backend'))


def cmd_train(args):
    from basicsr.train import train_pipeline
    _preflight(args, is_train=True)
    sys.argv = [sys.argv[0], *_basicsr_argv(args)]
    train_pipeline(os.getcwd())


def cmd_test(args):
    from basicsr.test import test_pipeline
    _preflight(args, is_train=False)
    sys.argv = [sys.argv[0], *_basicsr_argv(args)]
    test_pipeline(os.getcwd())


def cmd_infer(args):
    from basicsr_noise.inference import run_inference
    run_inference(args)


def cmd_convert(args):
    import torch

    from basicsr_noise.utils.checkpoint import CONVERTERS, atomic_torch_save, load_checkpoint_file
    if os.path.exists(args.output) and not args.overwrite:
        raise FileExistsError(f'{args.output} exists; pass --overwrite to replace it.')
    state = load_checkpoint_file(args.input)
    state = state.get('state_dict', state) if isinstance(state, dict) else state
    converted = CONVERTERS[args.method](state)
    os.makedirs(os.path.dirname(os.path.abspath(args.output)), exist_ok=True)
    atomic_torch_save(converted, args.output)
    n_params = sum(v.numel() for k, v in converted['params'].items() if torch.is_floating_point(v))
    print(f'Wrote {args.output}: {converted["meta"]["network_g"]}, {n_params:,d} values.')


def cmd_fit_nlf(args):
    import cv2
    import torch

    from basicsr_noise.inference import list_images
    from basicsr_noise.noise import fit_nlf
    noisy, clean = [], []
    for path in list_images(args.noisy):
        clean_path = os.path.join(args.clean, os.path.basename(path))
        pair = [cv2.imread(p, cv2.IMREAD_COLOR) for p in (path, clean_path)]
        for p, img in zip((path, clean_path), pair):
            if img is None:
                raise FileNotFoundError(f'Cannot read image {p}.')
        if pair[0].shape != pair[1].shape:
            raise ValueError(f'{path} and {clean_path} differ in size.')
        noisy.append(torch.from_numpy(pair[0][..., ::-1] / 255.).permute(2, 0, 1).float())
        clean.append(torch.from_numpy(pair[1][..., ::-1] / 255.).permute(2, 0, 1).float())
    # images may differ in size: pool all pixels into one (1, C, 1, N) batch for a single fit
    pool = lambda imgs: torch.cat([img.reshape(img.shape[0], 1, -1) for img in imgs], -1)[None]  # noqa: E731
    a, b = fit_nlf(pool(noisy), pool(clean), num_bins=args.bins, min_count=args.min_count)
    fmt = lambda t: '[' + ', '.join(f'{v:.3e}' for v in t.tolist()) + ']'  # noqa: E731
    print(f'# variance = a * x + b per RGB channel, x in [0, 1]; from {len(noisy)} pairs in {args.noisy}')
    print(f'noise:\n  type: nlf\n  a: {fmt(a)}\n  b: {fmt(b)}')
    print(f'# noise std (0-255) at x = 0.5: {fmt(255 * (a * 0.5 + b).clamp_min(0).sqrt())}')
    return a, b


def cmd_prepare(args):
    from basicsr_noise import prepare
    needed = {'sidd': ['input'], 'sidd-val': ['noisy_mat'], 'demo': [], 'camsim': []}[args.dataset]
    missing = [f'--{flag}' for flag in needed if getattr(args, flag) is None]
    if missing:
        raise ValueError(f'prepare {args.dataset} needs {", ".join(missing)}.')
    if args.dataset == 'sidd':
        n = prepare.prepare_sidd(args.input, args.output, args.crop_size, args.step, args.thresh_size, args.overwrite)
        print(f'Wrote {n} crop pairs to {args.output}/noisy_crops.lmdb and gt_crops.lmdb.')
    elif args.dataset == 'sidd-val':
        n = prepare.prepare_sidd_val(args.noisy_mat, args.gt_mat, args.output, args.overwrite, args.lmdb)
        print(f'Wrote {n} blocks to {args.output}.')
    elif args.dataset == 'camsim':
        from basicsr_noise.camsim import prepare_camsim
        manifest = prepare_camsim(args.output, overwrite=args.overwrite)
        print(f'Wrote {len(manifest["tiles"])} tiles of the simulated camera benchmark to {args.output} '
              f'(settings {", ".join(manifest["settings"])}; parameters in camsim.json).')
    else:
        from basicsr_noise.demo import build_demo_data
        print(f'Demo data in {build_demo_data(os.path.abspath(args.output))}.')


def cmd_make_lmdb(args):
    from basicsr_noise.prepare import make_lmdb
    n = make_lmdb(args.input, args.output, args.overwrite, args.compress_level)
    print(f'Wrote {n} images to {args.output}.')


def cmd_demo(args):
    from basicsr_noise.demo import run_demo
    run_demo(args)


def cmd_eval_noise(args):
    from basicsr_noise.eval_noise import evaluate_noise, format_table
    report = evaluate_noise(args.clean, args.real, args.fake, args.output, figures=not args.no_figures)
    print(format_table(report))
    print(f'Scores: {os.path.join(args.output, "eval_noise.json")}' +
          ('' if args.no_figures else f'; figures: {os.path.join(args.output, "figures")}'))


def cmd_submit(args):
    from basicsr_noise import submission
    denoiser = None
    if args.results is None:
        import torch

        from basicsr_noise.inference import ModelDenoiser, NetworkDenoiser
        device = torch.device(args.device or ('cuda' if torch.cuda.is_available() else 'cpu'))
        if args.opt:
            denoiser = ModelDenoiser(args.opt, device, args.weights, args.param_key, args.tile, args.tile_overlap)
        else:
            denoiser = NetworkDenoiser(args.ckpt, device, args.param_key, args.tile, args.tile_overlap)
    if args.benchmark == 'sidd':
        if denoiser is not None and not args.noisy_mat:
            raise ValueError('submit sidd with a model needs --noisy_mat (BenchmarkNoisyBlocksSrgb.mat).')
        written = submission.submit_sidd(args.output, args.noisy_mat, denoiser, args.results, args.format)
        print('Wrote ' + ', '.join(written) + ' (upload the CSV to kaggle.com/competitions/sidd-benchmark-srgb-psnr).')
    else:
        if denoiser is not None and not args.data:
            raise ValueError('submit dnd with a model needs --data (the DND release: info.mat, images_srgb/).')
        bundled = submission.submit_dnd(args.output, args.data, denoiser, args.results)
        print(f'Wrote the DND crops to {args.output} and the 50 bundled files to {bundled}.')


def cmd_pgap(args):
    from basicsr_noise.pgap import run_pgap
    from basicsr_noise.utils.option_check import apply_force_yml, load_options
    opt = apply_force_yml(load_options(args.opt), args.force_yml)
    run_pgap(opt, root=os.getcwd())


def build_parser():
    parser = argparse.ArgumentParser(
        prog='basicsr-noise',
        description='BasicSR with the basicsr-noise plugin: train and test from option files, denoise images, '
        'convert official checkpoints.')
    sub = parser.add_subparsers(dest='command', required=True)

    p = sub.add_parser('train', help='Train from an option file (basicsr.train.train_pipeline, root = cwd).')
    _add_basicsr_flags(p)
    p.set_defaults(func=cmd_train)

    p = sub.add_parser('test', help='Test from an option file (basicsr.test.test_pipeline, root = cwd).')
    _add_basicsr_flags(p)
    p.set_defaults(func=cmd_test)

    p = sub.add_parser('infer', help='Denoise an image or a folder with a trained model.')
    p.add_argument('-i', '--input', required=True, help='Image file or folder.')
    p.add_argument('-o', '--output', required=True, help='Output folder.')
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument('--opt', help='Option file of the model (test-time settings such as R2R averaging apply).')
    src.add_argument('--ckpt', help='Checkpoint written by basicsr-noise (the network options are stored in it).')
    p.add_argument('--weights', help='With --opt: checkpoint to load instead of path.pretrain_network_g.')
    p.add_argument('--param_key', default=None, help='params or params_ema. Default: params_ema if present.')
    p.add_argument('--tile', type=int, default=None, help='Tile size for large images. Default: no tiling.')
    p.add_argument('--tile_overlap', type=int, default=32, help='Tile overlap in pixels. Default: 32.')
    p.add_argument('--device', default=None, help='cpu, cuda or cuda:N. Default: cuda if available.')
    p.add_argument('--suffix', default='', help='Suffix of the output file names.')
    p.set_defaults(func=cmd_infer)

    p = sub.add_parser('convert', help='Convert an official checkpoint into a BasicSR checkpoint.')
    p.add_argument('--method', required=True, choices=['r2r'], help='Which official checkpoint format.')
    p.add_argument('input', help='Official checkpoint.')
    p.add_argument('output', help='BasicSR checkpoint to write.')
    p.add_argument('--overwrite', action='store_true', help='Replace an existing output file.')
    p.set_defaults(func=cmd_convert)

    p = sub.add_parser('fit-nlf', help='Fit a noise-level function (variance a*x+b per channel) to image pairs.')
    p.add_argument('--noisy', required=True, help='Folder of noisy images.')
    p.add_argument('--clean', required=True, help='Folder of the clean images, with the same file names.')
    p.add_argument('--bins', type=int, default=16, help='Intensity bins. Default: 16.')
    p.add_argument('--min_count', type=int, default=200, help='Pixels a bin needs to count. Default: 200.')
    p.set_defaults(func=cmd_fit_nlf)

    p = sub.add_parser('prepare', help='Prepare a dataset: SIDD-Medium crops to LMDBs, SIDD validation blocks, demo, '
                       'the simulated camera benchmark (camsim).')
    p.add_argument('dataset', choices=['sidd', 'sidd-val', 'demo', 'camsim'])
    p.add_argument('--input', help='sidd: the SIDD-Medium sRGB Data folder.')
    p.add_argument('--noisy_mat', help='sidd-val: ValidationNoisyBlocksSrgb.mat.')
    p.add_argument('--gt_mat', help='sidd-val: ValidationGtBlocksSrgb.mat (optional).')
    p.add_argument('--output', required=True, help='Output folder.')
    p.add_argument('--crop_size', type=int, default=512, help='sidd: crop size. Default: 512.')
    p.add_argument('--step', type=int, default=384, help='sidd: crop step. Default: 384.')
    p.add_argument('--thresh_size', type=int, default=0, help='sidd: keep a last crop if this many pixels remain.')
    p.add_argument('--lmdb', action='store_true', help='sidd-val: write LMDBs instead of PNG folders.')
    p.add_argument('--overwrite', action='store_true', help='Replace existing outputs.')
    p.set_defaults(func=cmd_prepare)

    p = sub.add_parser('make-lmdb', help='Write the images of a folder into a BasicSR LMDB (atomic, exact map size).')
    p.add_argument('--input', required=True, help='Image folder (searched recursively).')
    p.add_argument('--output', required=True, help='Output path ending with .lmdb.')
    p.add_argument('--compress_level', type=int, default=1, help='PNG compression level. Default: 1.')
    p.add_argument('--overwrite', action='store_true', help='Replace an existing output.')
    p.set_defaults(func=cmd_make_lmdb)

    p = sub.add_parser('demo', help='Build the embedded demo data, train R2R and DBSN on CPU, test and report.')
    p.add_argument('--root', default='.', help='Folder for datasets/demo, experiments/ and results/.')
    p.add_argument('--method', choices=['all', 'r2r', 'dbsn'], default='all', help='Which demo. Default: all.')
    p.add_argument('--iters', type=int, default=None, help='Override the number of training iterations.')
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser('eval-noise', help='AKLD, KS and noise statistics of generated against real noisy images, '
                       'with figures.')
    p.add_argument('--clean', required=True, help='Folder of clean images.')
    p.add_argument('--real', required=True, help='Folder of real noisy images (same names as the clean ones).')
    p.add_argument('--fake', required=True, help='Folder of generated noisy images (same names).')
    p.add_argument('--output', default='results/eval_noise', help='Output folder. Default: results/eval_noise.')
    p.add_argument('--no_figures', action='store_true', help='Only the scores.')
    p.set_defaults(func=cmd_eval_noise)

    p = sub.add_parser('submit', help='Write a SIDD (CSV/.mat) or DND (bundled .mat) benchmark submission from a '
                       'model or a results folder.')
    p.add_argument('benchmark', choices=['sidd', 'dnd'])
    p.add_argument('--output', required=True, help='Output folder.')
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument('--opt', help='Option file of the model (its test-time procedure applies).')
    src.add_argument('--ckpt', help='Checkpoint written by basicsr-noise (network options stored in it).')
    src.add_argument('--results', help='Folder of denoised images: SIDD SS_BB.png, DND %%04d_%%02d.png.')
    p.add_argument('--noisy_mat', help='sidd with a model: BenchmarkNoisyBlocksSrgb.mat.')
    p.add_argument('--data', help='dnd with a model: the DND release folder (info.mat, images_srgb/).')
    p.add_argument('--format', nargs='+', choices=['csv', 'mat'], default=['csv', 'mat'], help='sidd: which files.')
    p.add_argument('--weights', help='With --opt: checkpoint to load instead of path.pretrain_network_g.')
    p.add_argument('--param_key', default=None, help='params or params_ema. Default: params_ema if present.')
    p.add_argument('--tile', type=int, default=None, help='Tile size. Default: no tiling.')
    p.add_argument('--tile_overlap', type=int, default=32, help='Tile overlap in pixels. Default: 32.')
    p.add_argument('--device', default=None, help='cpu, cuda or cuda:N. Default: cuda if available.')
    p.set_defaults(func=cmd_submit)

    p = sub.add_parser('pgap', help='PSNR gap of a noise source: one denoiser trained on real pairs, one on the '
                       'source, both tested on real pairs.')
    p.add_argument('-opt', required=True, help='PGap option file (see basicsr_noise/pgap.py and docs/benchmarks.md).')
    p.add_argument('--force_yml', nargs='+', default=None, help='Override options, e.g. pgap:recipe:total_iter=100')
    p.set_defaults(func=cmd_pgap)
    return parser


def main(argv=None):
    from basicsr_noise.compat import rewrite_local_rank
    argv = rewrite_local_rank(sys.argv[1:] if argv is None else list(argv))
    args = build_parser().parse_args(argv)
    with warnings.catch_warnings():
        warnings.simplefilter('ignore', UserWarning)  # torchvision's deprecation notice for the shimmed module
        load_plugins()
    from basicsr_noise.utils.option_check import OptionError
    try:
        args.func(args)
    except (OptionError, FileNotFoundError, FileExistsError, ValueError, KeyError) as e:
        print(f'basicsr-noise: error: {e}', file=sys.stderr)
        sys.exit(2)


if __name__ == '__main__':
    main()
