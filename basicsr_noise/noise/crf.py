"""Camera response functions (CRFs) and the CBDNet / NTGAN in-camera noise simulation.

Guo et al., *Toward Convolutional Blind Denoising of Real Photographs* (CBDNet, CVPR 2019) and Zhao, Lun and Lam,
*Learning Blind Image Denoising without Clean Reference* (NTGAN, BMVC 2020): irradiance ``L = CRF^-1(x)``,
heteroscedastic noise ``sigma_s * L * n1 + sigma_c * n2`` per channel, then CRF, Bayer mosaic and demosaic.
The CRF is a parametric gamma-type family by default (no data needed) or one of the 201 DoRF curves (Grossberg
and Nayar's Database of Response Functions) read from ``201_CRF_data.mat`` and ``dorfCurvesInv.mat``.
"""
import torch
from os import path as osp

from .base import NoiseModel, NoiseSample, check_image_batch
from .bayer import PATTERNS, bilinear_demosaic_variance, demosaic, mosaic
from .registry import NOISE_REGISTRY, check_range, sample_uniform

DORF_FILES = ('201_CRF_data.mat', 'dorfCurvesInv.mat')


def _hermite_nodes(count=24):
    """Nodes and weights of Gauss-Hermite quadrature for ``E[g(n)]``, ``n ~ N(0, 1)``."""
    import numpy as np
    nodes, weights = np.polynomial.hermite.hermgauss(count)
    return (nodes * np.sqrt(2.)).tolist(), (weights / np.sqrt(np.pi)).tolist()


_HERMITE_NODES = _hermite_nodes()
# The NTGAN release draws the pattern from six choices, two of which skip mosaicing.
NTGAN_PATTERNS = ('GBRG', 'GRBG', 'BGGR', 'RGGB', 'none', 'none')


class DoRFCurves:
    """The 201 DoRF response curves as lookup tables on uniform 1024-point grids (nearest-bin, as NTGAN).

    Args:
        folder (str): Folder holding ``201_CRF_data.mat`` (``I``, ``B``) and ``dorfCurvesInv.mat`` (``invI``,
            ``invB``).
    """

    def __init__(self, folder):
        import scipy.io
        tables = {}
        for name, keys in zip(DORF_FILES, (('I', 'B'), ('invB', 'invI'))):
            path = osp.join(folder, name)
            if not osp.isfile(path):
                raise FileNotFoundError(f'DoRF curves: {path} does not exist.')
            content = scipy.io.loadmat(path)
            for key in keys:
                if key not in content:
                    raise ValueError(f'DoRF curves: {path} has no variable {key!r}.')
                tables[key] = torch.from_numpy(content[key].astype('float64'))
        for grid in ('I', 'invB'):
            if not torch.allclose(tables[grid], torch.linspace(0, 1, tables[grid].shape[1], dtype=torch.float64)):
                raise ValueError(f'DoRF curves: {grid} is not a uniform grid on [0, 1].')
        self.response, self.inverse_response = tables['B'], tables['invI']
        self.num_curves, self.num_bins = self.response.shape

    def _lookup(self, table, x, index):
        table = table.to(x.device, x.dtype)[index]  # (B, bins)
        bins = torch.round(x.clamp(0, 1) * (self.num_bins - 1)).long()
        return torch.gather(table, 1, bins.flatten(1)).reshape(x.shape)

    def forward(self, irradiance, index):
        return self._lookup(self.response, irradiance, index)

    def inverse(self, brightness, index):
        return self._lookup(self.inverse_response, brightness, index)


class GammaCurves:
    """Parametric CRFs ``x = L ** e`` (concave for ``e < 1``); ``index`` holds the exponent of each sample."""

    num_curves = None

    @staticmethod
    def forward(irradiance, exponent):
        return irradiance.clamp(0, 1)**exponent.to(irradiance.dtype).reshape(-1, 1, 1, 1)

    @staticmethod
    def inverse(brightness, exponent):
        return brightness.clamp(0, 1)**(1.0 / exponent.to(brightness.dtype).reshape(-1, 1, 1, 1))


@NOISE_REGISTRY.register()
class CRFCameraNoise(NoiseModel):
    """CBDNet / NTGAN in-camera noise: inverse CRF, heteroscedastic irradiance noise, CRF, mosaic, demosaic.

    Args:
        sigma_s (float | list): Signal-dependent noise level (std ``sigma_s * L``), [0, 1] scale, drawn per sample
            and channel. Default: [0, 25/255] (NTGAN; CBDNet uses [0, 0.16]).
        sigma_c (float | list): Signal-independent noise level, likewise. Default: [0, 25/255] (CBDNet: [0, 0.06]).
        crf (str): ``gamma`` (parametric, default) or ``dorf`` (needs ``dorf_dir``).
        crf_exponent (float | list): Exponent range of the gamma CRFs. Default: [0.3, 0.6], the bulk of the
            exponents fitted to the DoRF curves (0.14-0.6).
        dorf_dir (str): Folder of the DoRF ``.mat`` files.
        patterns (list): Bayer patterns drawn uniformly per sample; ``none`` skips mosaicing. Default: NTGAN's
            ``[GBRG, GRBG, BGGR, RGGB, none, none]``.
        demosaic_method (str): ``bilinear`` (NTGAN), ``malvar2004`` (CBDNet uses MATLAB's Malvar demosaic) or
            ``menon2007``.
        residual (bool): Add only the processed noise, ``x + P(L + n) - P(L)``, so that the CRF and demosaicing
            leave the content untouched (NTGAN's ``corr=True``). Default: True.

    The sample's ``std`` is the per-pixel standard deviation of the sRGB noise: the irradiance noise is Gaussian
    with std ``sqrt((sigma_s L)^2 + sigma_c^2)``, so the variance of its image through the CRF (clipping included)
    is an expectation over one normal variable, computed by Gauss-Hermite quadrature, then propagated through the
    linear bilinear demosaic (:func:`~basicsr_noise.noise.bayer.bilinear_demosaic_variance`; other demosaicing
    methods use that propagation as an approximation). ``params['noise_map_official']`` is
    NTGAN's map ``sqrt(sigma_s L + sigma_c)``, which mixes a std and a variance and ignores the CRF and the
    demosaic; ``params['irradiance_std']`` is the std in the irradiance domain.
    """

    def __init__(self, sigma_s=(0, 25 / 255.), sigma_c=(0, 25 / 255.), crf='gamma', crf_exponent=(0.3, 0.6),
                 dorf_dir=None, patterns=NTGAN_PATTERNS, demosaic_method='bilinear', residual=True, **kwargs):
        super().__init__(**kwargs)
        self.sigma_s = check_range(sigma_s, 'CRFCameraNoise.sigma_s')
        self.sigma_c = check_range(sigma_c, 'CRFCameraNoise.sigma_c')
        if crf == 'gamma':
            self.curves, self.crf_exponent = GammaCurves(), check_range(crf_exponent, 'CRFCameraNoise.crf_exponent')
            if self.crf_exponent[0] <= 0:
                raise ValueError('CRFCameraNoise.crf_exponent must be positive.')
        elif crf == 'dorf':
            if dorf_dir is None:
                raise ValueError('CRFCameraNoise: crf is dorf but dorf_dir is not set.')
            self.curves = DoRFCurves(dorf_dir)
        else:
            raise ValueError(f'CRFCameraNoise.crf must be gamma or dorf, got {crf!r}.')
        bad = [p for p in patterns if p != 'none' and p not in PATTERNS]
        if bad or not patterns:
            raise ValueError(f'CRFCameraNoise.patterns: unknown {bad or patterns}; use {", ".join(PATTERNS)} or none.')
        self.patterns = list(patterns)
        self.demosaic_method, self.residual = demosaic_method, residual
        demosaic(torch.zeros(1, 1, 4, 4), 'RGGB', demosaic_method)  # fail early on an unknown method

    def _pipeline(self, irradiance, crf_index, pattern_index):
        out = self.curves.forward(irradiance, crf_index)
        result = out.clone()
        for p, pattern in enumerate(self.patterns):
            idx = (pattern_index == p).nonzero().flatten()
            if pattern == 'none' or idx.numel() == 0:
                continue
            result[idx] = demosaic(mosaic(out[idx], pattern), pattern, self.demosaic_method)
        return result

    def sample(self, x, generator=None):
        check_image_batch(x, channels=3, name='CRFCameraNoise')
        b = x.shape[0]
        sigma_s = sample_uniform(self.sigma_s, b * 3, generator, x.device).to(x.dtype).reshape(b, 3, 1, 1)
        sigma_c = sample_uniform(self.sigma_c, b * 3, generator, x.device).to(x.dtype).reshape(b, 3, 1, 1)
        if isinstance(self.curves, DoRFCurves):
            crf_index = torch.randint(self.curves.num_curves, (b, ), generator=generator, device=x.device)
        else:
            crf_index = sample_uniform(self.crf_exponent, b, generator, x.device)
        pattern_index = torch.randint(len(self.patterns), (b, ), generator=generator, device=x.device)
        irradiance = self.curves.inverse(x, crf_index)
        n_s = torch.randn(x.shape, generator=generator, device=x.device, dtype=x.dtype)
        n_c = torch.randn(x.shape, generator=generator, device=x.device, dtype=x.dtype)
        noisy_irradiance = irradiance + sigma_s * irradiance * n_s + sigma_c * n_c
        noisy = self._pipeline(noisy_irradiance, crf_index, pattern_index)
        if self.residual:
            noisy = x + noisy - self._pipeline(irradiance, crf_index, pattern_index)
        irradiance_std = torch.sqrt((sigma_s * irradiance)**2 + sigma_c**2)
        params = {'sigma_s': sigma_s.reshape(b, 3), 'sigma_c': sigma_c.reshape(b, 3), 'crf_index': crf_index,
                  'pattern_index': pattern_index, 'irradiance_std': irradiance_std,
                  'noise_map_official': torch.sqrt(sigma_s * irradiance + sigma_c)}
        return NoiseSample(noisy, self.srgb_std(irradiance, irradiance_std, crf_index, pattern_index), params=params)

    def srgb_std(self, irradiance, irradiance_std, crf_index, pattern_index):
        """Per-pixel std of the sRGB noise (see the class docstring)."""
        mean = second = None
        for node, weight in zip(*_HERMITE_NODES):  # E[f(L + s n)] and E[f(L + s n)^2], n ~ N(0, 1)
            value = self.curves.forward(irradiance + irradiance_std * node, crf_index)
            mean = value * weight if mean is None else mean.add_(value, alpha=weight)
            second = value * value * weight if second is None else second.addcmul_(value, value, value=weight)
        variance = (second - mean * mean).clamp_min(0)
        out = variance.clone()
        for p, pattern in enumerate(self.patterns):
            idx = (pattern_index == p).nonzero().flatten()
            if pattern == 'none' or idx.numel() == 0:
                continue
            out[idx] = bilinear_demosaic_variance(mosaic(variance[idx], pattern), pattern)
        return out.sqrt()
