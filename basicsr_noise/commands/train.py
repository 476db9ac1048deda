"""``basicsr train``: BasicSR's own ``train_pipeline`` on an option file, with the current directory as root.

Before BasicSR starts, the option file's ``_base_`` files are merged, the plugins it names (``plugins: [...]``) and
those given with ``--plugin`` are imported, and the options are checked, so that a bad key, path or image fails
with its name before anything is written. BasicSR receives the merged file.
"""
import copy
import os
import sys

from basicsr_noise.utils.options import (apply_force_yml, has_bases, load_options, remove_merged_options,
                                         write_merged_options)
from basicsr_noise.utils.plugins import import_plugins

NAME = 'train'
HELP = 'Train from an option file (basicsr.train.train_pipeline, root = cwd).'


def add_plugin_flag(parser):
    parser.add_argument(
        '--plugin',
        action='append',
        default=[],
        metavar='MODULE',
        help='Import this module (and, for a package, its archs/data/models/losses/metrics) before '
        'the registries are used, e.g. realesrgan. Repeatable.')


def add_arguments(parser):
    """BasicSR's own flags (those of ``basicsr/train.py``), plus ``--plugin``."""
    parser.add_argument('-opt', required=True, help='Path to the option YAML file.')
    parser.add_argument('--launcher', choices=['none', 'pytorch', 'slurm'], default='none', help='Job launcher.')
    parser.add_argument('--auto_resume', action='store_true', help='Resume from the newest training state.')
    parser.add_argument('--debug', action='store_true', help='Debug mode (frequent logs, validation, checkpoints).')
    parser.add_argument('--local_rank', type=int, default=0, help='Set by old launchers; torchrun needs none.')
    parser.add_argument('--force_yml', nargs='+', default=None, help='Override options, e.g. train:ema_decay=0.999')
    add_plugin_flag(parser)


def basicsr_argv(args, opt_path):
    """``sys.argv`` for BasicSR's ``parse_options``."""
    argv = ['-opt', opt_path, '--launcher', args.launcher, '--local_rank', str(args.local_rank)]
    argv += ['--auto_resume'] if args.auto_resume else []
    argv += ['--debug'] if args.debug else []
    argv += ['--force_yml', *args.force_yml] if args.force_yml else []
    return argv


def preflight(args, opt, is_train):
    """Import the plugins, apply ``--force_yml`` to a copy of ``opt`` and check it; raises ``OptionError``."""
    from basicsr_noise.compat import set_dist_backend
    from basicsr_noise.utils.option_check import check_datasets, check_options
    import_plugins(args.plugin, '--plugin')
    import_plugins(opt.get('plugins'), f'{args.opt}: plugins')
    checked = apply_force_yml(copy.deepcopy(opt), args.force_yml)
    check_options(checked, args.opt, is_train=is_train)
    check_datasets(checked, args.opt)
    set_dist_backend((checked.get('dist_params') or {}).get('backend'))


def run_pipeline(args, is_train, pipeline):
    """Check the options, then run BasicSR's ``pipeline(root)`` on the option file (merged if it has bases)."""
    opt = load_options(args.opt)
    preflight(args, opt, is_train)
    merged = has_bases(args.opt)
    opt_path = write_merged_options(opt, args.opt) if merged else args.opt
    sys.argv = [sys.argv[0], *basicsr_argv(args, opt_path)]
    try:
        pipeline(os.getcwd())
    finally:
        if merged:
            remove_merged_options(opt_path)


def run(args):
    from basicsr.train import train_pipeline
    run_pipeline(args, True, train_pipeline)
