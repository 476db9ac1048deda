"""In-camera noise: sRGB -> raw -> shot/read noise -> Bayer mosaic -> demosaic -> sRGB, batched on any device."""
import functools
import torch

from .base import NoiseModel, NoiseSample, check_image_batch
from .bayer import PATTERNS, bayer_masks, demosaic, mosaic
from .camera_fused import add_raw_noise, simulate_camera_fused
from .isp import process, random_isp_params, unprocess
from .poisson import sample_brooks_shot_read
from .registry import NOISE_REGISTRY

# SIDD raw noise-level functions per camera and ISO, variance = beta1 * x + beta2 on raw in [0, 1]
# (Noise Flow, Abdelhamed et al. ICCV 2019: cam_iso_nlf_all.txt). IP iPhone 7, GP Pixel, S6 Galaxy S6 Edge,
# N6 Nexus 6, G4 LG G4.
SIDD_NLF = {
    'IP_00100': (0.000702, 0.000003), 'IP_00400': (0.000735, 0.000003), 'IP_00800': (0.000723, 0.000003),
    'IP_01600': (0.000687, 0.000002), 'GP_00100': (0.000228, 0.000002), 'GP_00400': (0.000886, 0.000005),
    'GP_00800': (0.001764, 0.000012), 'GP_01600': (0.003519, 0.000045), 'GP_03200': (0.007029, 0.000179),
    'G4_00100': (0.000739, 0.000002), 'G4_00400': (0.001860, 0.000002), 'G4_00800': (0.003356, 0.000063),
    'S6_00100': (0.000479, 0.000002), 'S6_00400': (0.001774, 0.000002), 'S6_00800': (0.003696, 0.000002),
    'S6_01600': (0.008211, 0.000002), 'S6_03200': (0.019930, 0.000002), 'N6_00100': (0.000473, 0.000003),
    'N6_00400': (0.001760, 0.000013), 'N6_00800': (0.003476, 0.000052), 'N6_01600': (0.006909, 0.000208),
    'N6_03200': (0.013773, 0.000833),
}


def simulate_camera(x, params, shot, read, eps, pattern='RGGB', demosaic_method='bilinear', apply_tone=True):
    """The deterministic camera pipeline, given its random draws, written for eager execution.

    ``camera_fused.simulate_camera_fused`` is the same function (bilinear) written for ``torch.compile``.

    Args:
        x (Tensor): Clean sRGB ``(B, 3, H, W)`` in [0, 1].
        params (dict): ISP parameters from :func:`~basicsr_noise.noise.isp.random_isp_params`.
        shot (Tensor): Raw shot-noise variance per unit intensity ``(B,)``.
        read (Tensor): Raw read-noise variance ``(B,)``.
        eps (Tensor): Standard normal draws ``(B, 1, H, W)``, one per raw pixel.
        pattern (str): Bayer pattern of the whole batch.
        demosaic_method (str): ``bilinear``, ``malvar2004`` or ``menon2007``.
        apply_tone (bool): Apply the tone curve at the end.

    Returns:
        Tensor: Noisy sRGB ``(B, 3, H, W)``.
    """
    noisy_raw = add_raw_noise(mosaic(unprocess(x, params), pattern), shot, read, eps)
    return process(demosaic(noisy_raw, pattern, demosaic_method), params, apply_tone).to(x.dtype)


def _choose(options, batch, generator, device):
    return torch.randint(len(options), (batch, ), generator=generator, device=device)


@functools.cache
def compiled_simulate_camera_fused():
    """``torch.compile(simulate_camera_fused)``, made once per process; each new shape compiles on first use."""
    return torch.compile(simulate_camera_fused, dynamic=False)


@functools.lru_cache(maxsize=16)
def _all_bayer_masks(height, width, device, dtype):
    """The masks of every pattern, ``(4, 3, H, W)`` in ``PATTERNS`` order; cached, so never modify them."""
    return torch.stack([bayer_masks(height, width, p, device, dtype) for p in PATTERNS])


@NOISE_REGISTRY.register()
class CameraNoise(NoiseModel):
    """Realistic sRGB noise through a simulated camera.

    Brooks et al., *Unprocessing Images for Learned Raw Denoising* (CVPR 2019): the clean sRGB batch is
    unprocessed to linear raw (random colour matrix, white balance and digital gain), mosaiced, given
    heteroscedastic Gaussian shot/read noise (variance ``shot * x + read``), demosaiced and processed back. The
    noise is therefore signal dependent, spatially correlated and coloured like camera noise.

    Args:
        nlf (str | list): ``brooks`` (log-uniform shot, log-linear read; default), or one or more SIDD camera/ISO
            names from ``SIDD_NLF`` (``IP_00800``, ``GP_01600``, ...; one is drawn per sample).
        pattern (str): Bayer pattern, one of ``RGGB``, ``BGGR``, ``GRBG``, ``GBRG``, or ``random``. Default: RGGB.
        demosaic_method (str): ``bilinear`` (Brooks), ``malvar2004`` or ``menon2007``. Default: bilinear.
        apply_tone (bool): Apply the tone curve after gamma (the inverse of the unprocessing). Default: True.
        compile (bool): Run the pipeline through ``torch.compile`` (bilinear demosaicing only): one fused loop,
            about twice as fast on CPU (docs/benchmarks.md). Needs a C++ compiler on CPU or Triton on GPU, and
            compiles for about 10 s at the first batch of each shape. Same random draws, same output up to float
            rounding. Default: False.
    """

    def __init__(self, nlf='brooks', pattern='RGGB', demosaic_method='bilinear', apply_tone=True, compile=False,
                 **kwargs):
        super().__init__(**kwargs)
        if nlf != 'brooks':
            names = [nlf] if isinstance(nlf, str) else list(nlf)
            unknown = [n for n in names if n not in SIDD_NLF]
            if unknown or not names:
                raise ValueError(f'CameraNoise.nlf: unknown camera/ISO {unknown or names}; use brooks or names from '
                                 f'{", ".join(sorted(SIDD_NLF))}.')
            nlf = names
        if pattern != 'random' and pattern not in PATTERNS:
            raise ValueError(f'CameraNoise.pattern must be one of {", ".join(PATTERNS)} or random, got {pattern!r}.')
        self.nlf, self.pattern, self.apply_tone = nlf, pattern, apply_tone
        self.demosaic_method = demosaic_method
        demosaic(torch.zeros(1, 1, 4, 4), 'RGGB', demosaic_method)  # fail early on an unknown method
        if compile and demosaic_method != 'bilinear':
            raise ValueError(f'CameraNoise.compile supports bilinear demosaicing only, got {demosaic_method!r}.')
        self.compile = bool(compile)

    def shot_read(self, batch, generator, device):
        """Per-sample raw shot and read variances ``(B,)`` and the SIDD NLF index (-1 for Brooks sampling)."""
        if self.nlf == 'brooks':
            shot, read = sample_brooks_shot_read(batch, generator, device)
            return shot, read, torch.full((batch, ), -1, device=device)
        table = torch.tensor([SIDD_NLF[n] for n in self.nlf], dtype=torch.float64, device=device)
        index = _choose(self.nlf, batch, generator, device)
        return table[index, 0], table[index, 1], index

    def sample(self, x, generator=None):
        check_image_batch(x, channels=3, name='CameraNoise')
        batch = x.shape[0]
        params = random_isp_params(batch, generator, x.device)
        shot, read, nlf_index = self.shot_read(batch, generator, x.device)
        if self.pattern == 'random':
            pattern_index = _choose(PATTERNS, batch, generator, x.device)
        else:
            pattern_index = torch.full((batch, ), PATTERNS.index(self.pattern), device=x.device)
        groups = []  # mixed patterns: (pattern, samples) in PATTERNS order (nonzero syncs a GPU: only when needed)
        if self.pattern == 'random':
            groups = [(p, (pattern_index == p).nonzero().flatten()) for p in range(len(PATTERNS))]
            groups = [(p, idx) for p, idx in groups if idx.numel()]
        eps = self._draw_eps(x, groups, generator)
        if self.compile:
            masks = _all_bayer_masks(*x.shape[-2:], x.device, x.dtype)
            # per-sample masks for mixed patterns: the whole batch in one call whatever its patterns
            masks = masks[pattern_index] if self.pattern == 'random' else masks[PATTERNS.index(self.pattern), None]
            noisy_rgb = compiled_simulate_camera_fused()(x, params, shot, read, eps, masks, self.apply_tone)
        elif self.pattern != 'random':  # one pattern: the whole batch in one pass, no gathering
            noisy_rgb = simulate_camera(x, params, shot, read, eps, self.pattern, self.demosaic_method,
                                        self.apply_tone)
        else:
            noisy_rgb = torch.empty_like(x)
            for p, idx in groups:  # at most four groups: one batched pass per Bayer pattern
                group = {k: v[idx] for k, v in params.items()}
                noisy_rgb[idx] = simulate_camera(x[idx], group, shot[idx], read[idx], eps[idx], PATTERNS[p],
                                                 self.demosaic_method, self.apply_tone)
        params.update(shot=shot, read=read, nlf_index=nlf_index, pattern_index=pattern_index)
        return NoiseSample(noisy_rgb, None, params=params)

    def _draw_eps(self, x, groups, generator):
        """One standard normal per raw pixel, ``(B, 1, H, W)``, drawn group by group in pattern order (the order
        of earlier releases, so that seeds keep their samples)."""
        shape = (1, *x.shape[-2:])
        if self.pattern != 'random':
            return torch.randn((x.shape[0], *shape), generator=generator, device=x.device, dtype=x.dtype)
        eps = x.new_empty((x.shape[0], *shape))
        for _, idx in groups:
            eps[idx] = torch.randn((idx.numel(), *shape), generator=generator, device=x.device, dtype=x.dtype)
        return eps
