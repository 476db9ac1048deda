import numpy as np
import pytest
import torch

from basicsr_noise.noise.bayer import PATTERNS, demosaic, mosaic

colour_demosaicing = pytest.importorskip('colour_demosaicing', reason='the reference implementation is not installed')
REFERENCE = {
    'bilinear': colour_demosaicing.demosaicing_CFA_Bayer_bilinear,
    'malvar2004': colour_demosaicing.demosaicing_CFA_Bayer_Malvar2004,
    'menon2007': colour_demosaicing.demosaicing_CFA_Bayer_Menon2007,
}


@pytest.mark.parametrize('pattern', PATTERNS)
@pytest.mark.parametrize('method', sorted(REFERENCE))
@pytest.mark.parametrize('size', [(16, 16), (13, 22)])
def test_demosaic_matches_colour_demosaicing(pattern, method, size):
    rng = np.random.default_rng(0)
    rgb = rng.uniform(0, 1, (2, *size, 3))
    batch = torch.from_numpy(rgb).permute(0, 3, 1, 2)
    raw = mosaic(batch, pattern)
    out = demosaic(raw, pattern, method)
    for i in range(2):
        ref_raw = colour_demosaicing.mosaicing_CFA_Bayer(rgb[i], pattern)
        np.testing.assert_allclose(raw[i, 0].numpy(), ref_raw, atol=1e-12)
        ref = REFERENCE[method](ref_raw, pattern)
        np.testing.assert_allclose(out[i].permute(1, 2, 0).numpy(), ref, atol=1e-5)


def test_demosaic_of_a_flat_image_is_flat_inside():
    # at the border, symmetric extension breaks the Bayer parity (as in the reference), so check the interior
    rgb = torch.tensor([0.2, 0.5, 0.7], dtype=torch.float64).reshape(1, 3, 1, 1).expand(1, 3, 12, 12)
    for method in REFERENCE:
        out = demosaic(mosaic(rgb, 'GBRG'), 'GBRG', method)
        torch.testing.assert_close(out[..., 2:-2, 2:-2], rgb[..., 2:-2, 2:-2])


def test_bad_pattern_method_and_shape_are_named():
    x = torch.rand(1, 3, 8, 8)
    with pytest.raises(ValueError, match="'RGBG'"):
        mosaic(x, 'RGBG')
    with pytest.raises(ValueError, match="'ahd'"):
        demosaic(mosaic(x), method='ahd')
    with pytest.raises(ValueError, match=r'\(B, 3, H, W\)'):
        mosaic(torch.rand(1, 1, 8, 8))


@pytest.mark.parametrize('pattern', PATTERNS)
def test_menon2007_decides_ties_of_an_8bit_photo_like_the_reference(pattern):
    # flat 8-bit regions make the horizontal and vertical scores tie exactly; rounding differently would flip the
    # direction at a few hundred pixels and change them by up to 0.04
    skimage_data = pytest.importorskip('skimage.data', reason='scikit-image is not installed')
    rgb = skimage_data.astronaut()[:96, :128].astype(np.float64) / 255.
    ref_raw = colour_demosaicing.mosaicing_CFA_Bayer(rgb, pattern)
    ref = colour_demosaicing.demosaicing_CFA_Bayer_Menon2007(ref_raw, pattern)
    out = demosaic(torch.from_numpy(ref_raw)[None, None], pattern, 'menon2007')
    np.testing.assert_allclose(out[0].permute(1, 2, 0).numpy(), ref, atol=1e-5)


def test_demosaic_rejects_images_smaller_than_its_filters():
    with pytest.raises(ValueError, match='too small'):
        demosaic(torch.rand(1, 1, 2, 8), method='menon2007')
    with pytest.raises(ValueError, match='too small'):
        demosaic(torch.rand(1, 1, 1, 8), method='malvar2004')
