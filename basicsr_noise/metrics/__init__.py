# BasicSR does not scan metrics: each metric module is imported explicitly.
from . import noise_metrics  # noqa: F401
