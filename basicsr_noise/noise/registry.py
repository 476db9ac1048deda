"""The registry of noise models and the helpers that draw their per-sample parameters.

The registry has the interface of BasicSR's ``Registry`` but no BasicSR import, so that the noise library can be
used (and moved to ``basicsr.data``) alone.
"""
import torch

from ..utils.suggest import did_you_mean


class NoiseRegistry:
    """Name -> noise model class, filled by the ``@NOISE_REGISTRY.register()`` decorator."""

    def __init__(self, name):
        self._name = name
        self._obj_map = {}

    def register(self, obj=None):

        def deco(cls):
            if cls.__name__ in self._obj_map:
                raise KeyError(f'A noise model named {cls.__name__!r} is already registered.')
            self._obj_map[cls.__name__] = cls
            return cls

        return deco if obj is None else deco(obj)

    def get(self, name):
        if name not in self._obj_map:
            raise KeyError(f'Unknown noise model type {name!r}.{did_you_mean(name, self._obj_map)} Known: '
                           f'{", ".join(sorted(self._obj_map))}.')
        return self._obj_map[name]

    def __contains__(self, name):
        return name in self._obj_map

    def keys(self):
        return self._obj_map.keys()


NOISE_REGISTRY = NoiseRegistry('noise')


def build_noise(opt):
    """Build a noise model from options such as ``{type: AWGNNoise, sigma: [0, 50]}``."""
    if not isinstance(opt, dict) or 'type' not in opt:
        raise ValueError(f'A noise option needs a type, got {opt!r}.')
    opt = dict(opt)
    cls = NOISE_REGISTRY.get(opt.pop('type'))
    try:
        return cls(**opt)
    except TypeError as e:
        raise ValueError(f'{cls.__name__}: {e}') from e


def check_range(value, name):
    """A number or a ``[min, max]`` pair; raises ``ValueError`` naming the parameter when min > max."""
    if isinstance(value, (list, tuple)):
        if len(value) != 2:
            raise ValueError(f'{name}: a range is [min, max], got {list(value)}.')
        low, high = float(value[0]), float(value[1])
        if low > high:
            raise ValueError(f'{name}: range [{low}, {high}] has min > max.')
        return low, high
    return float(value), float(value)


def sample_uniform(value_range, batch, generator, device, log=False):
    """Per-sample values ``(B,)``, uniform (or log-uniform) in a range checked by :func:`check_range`."""
    low, high = value_range
    u = torch.rand(batch, generator=generator, device=device, dtype=torch.float64)
    if log:
        low_t, high_t = torch.log(torch.tensor(low)), torch.log(torch.tensor(high))
        return torch.exp(low_t + (high_t - low_t) * u)
    return low + (high - low) * u
