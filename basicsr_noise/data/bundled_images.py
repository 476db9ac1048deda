"""Images bundled with scikit-image (never its download-backed ones), split once into training and test images.

The demo and the simulated camera benchmark (``prepare camsim``) are built from them, so they need no download.
"""
import cv2
import numpy as np
from skimage import color
from skimage import data as skdata

TRAIN_IMAGES = ('astronaut', 'coffee', 'immunohistochemistry', 'rocket', 'hubble_deep_field', 'retina')
TEST_IMAGES = ('chelsea', 'motorcycle')
MAX_SIDE = 512


def bundled_image(name, max_side=MAX_SIDE, grey=False):
    """A uint8 image bundled with scikit-image, at most ``max_side`` pixels on its longer side: RGB (H, W, 3), or
    with ``grey`` (and for the grey images, such as ``camera``) (H, W), converted before resizing."""
    img = skdata.stereo_motorcycle()[0] if name == 'motorcycle' else getattr(skdata, name)()
    if img.ndim == 3:
        img = img[..., :3]
        if grey:
            img = (color.rgb2gray(img) * 255).round().astype(np.uint8)
    img = np.ascontiguousarray(img)
    scale = max_side / max(img.shape[:2])
    if scale < 1:
        img = cv2.resize(img, (round(img.shape[1] * scale), round(img.shape[0] * scale)), interpolation=cv2.INTER_AREA)
    return img


def centre_crop(img, size):
    """The centre ``size`` x ``size`` crop of an HWC image."""
    h, w = img.shape[:2]
    return img[(h - size) // 2:(h - size) // 2 + size, (w - size) // 2:(w - size) // 2 + size]
