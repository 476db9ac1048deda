"""``basicsr test``: BasicSR's own ``test_pipeline`` on an option file (the checks and merging of ``train``)."""
from basicsr_noise.commands.train import add_arguments, run_pipeline  # noqa: F401  (same flags as train)

NAME = 'test'
HELP = 'Test from an option file (basicsr.test.test_pipeline, root = cwd).'


def run(args):
    from basicsr.test import test_pipeline
    run_pipeline(args, False, test_pipeline)
