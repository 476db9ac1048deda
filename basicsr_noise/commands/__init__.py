"""The subcommands of ``basicsr`` / ``basicsr-noise``, one module each.

Every module defines ``NAME`` (the subcommand), ``HELP`` (its line in ``--help``), ``add_arguments(parser)`` and
``run(args)``; :mod:`basicsr_noise.cli` builds the parser from :data:`COMMANDS` in this order.
"""
COMMANDS = ('train', 'test', 'show_options', 'infer', 'convert', 'fit_nlf', 'prepare', 'make_lmdb', 'demo',
            'generate', 'eval_noise', 'pgap', 'submit')
