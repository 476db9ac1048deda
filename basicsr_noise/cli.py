"""The ``basicsr`` / ``basicsr-noise`` command: plugin loading and the loop over the subcommands.

Each subcommand is a module of :mod:`basicsr_noise.commands`. ``train`` and ``test`` hand BasicSR's own flags to
``basicsr.train.train_pipeline`` / ``basicsr.test.test_pipeline`` with the current directory as root. Plugins: this
package, every package registered in the entry-point group ``basicsr.plugins``, and the modules named with
``--plugin`` or in an option file's ``plugins`` list. Multi-process training: ``torchrun --nproc_per_node=N -m
basicsr_noise train -opt X.yml --launcher pytorch``.

A user's bad input (:class:`~basicsr_noise.utils.errors.InputError`, a missing or existing file) ends the command
with its message and exit status 2; any other error keeps its traceback.
"""
import argparse
import importlib
import sys
import warnings

from basicsr_noise.commands import COMMANDS


def command_modules():
    return [importlib.import_module(f'basicsr_noise.commands.{name}') for name in COMMANDS]


def build_parser(modules=None):
    parser = argparse.ArgumentParser(
        prog='basicsr-noise',
        description='BasicSR with the basicsr-noise plugin: train and test from option files, denoise images, '
        'convert official checkpoints, prepare data and evaluate noise.')
    sub = parser.add_subparsers(dest='command', required=True)
    for module in modules or command_modules():
        p = sub.add_parser(module.NAME, help=module.HELP, description=module.HELP)
        module.add_arguments(p)
        p.set_defaults(func=module.run)
    return parser


def main(argv=None):
    from basicsr_noise import compat
    argv = compat.rewrite_local_rank(sys.argv[1:] if argv is None else list(argv))
    compat.apply()  # the command runs BasicSR's pipelines: their fixes (importing the package applies none)
    with warnings.catch_warnings():
        warnings.simplefilter('ignore', UserWarning)  # torchvision's deprecation notice for the shimmed module
        from basicsr_noise.utils.plugins import load_entry_point_plugins
        load_entry_point_plugins()
        modules = command_modules()
    args = build_parser(modules).parse_args(argv)
    from basicsr_noise.utils.errors import InputError
    try:
        args.func(args)
    except (InputError, FileNotFoundError, FileExistsError) as e:
        print(f'basicsr-noise: error: {e}', file=sys.stderr)
        sys.exit(2)


if __name__ == '__main__':
    main()
