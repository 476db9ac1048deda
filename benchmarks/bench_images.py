"""Grey benchmark images: disjoint training and test images bundled with scikit-image (no download)."""
import cv2
import numpy as np
from skimage import color
from skimage import data as skdata

TRAIN = ('astronaut', 'camera', 'coffee', 'rocket', 'brick', 'gravel', 'grass', 'hubble_deep_field')
TEST = ('chelsea', 'coins', 'motorcycle', 'immunohistochemistry')


def grey_image(name, max_side=256):
    """A scikit-image image as grey uint8, at most ``max_side`` pixels on its longer side."""
    img = skdata.stereo_motorcycle()[0] if name == 'motorcycle' else getattr(skdata, name)()
    if img.ndim == 3:
        img = (color.rgb2gray(img[..., :3]) * 255).round().astype(np.uint8)
    scale = max_side / max(img.shape)
    if scale < 1:
        img = cv2.resize(img, (round(img.shape[1] * scale), round(img.shape[0] * scale)), interpolation=cv2.INTER_AREA)
    return img


def centre_crop(img, size):
    h, w = img.shape[:2]
    return img[(h - size) // 2:(h - size) // 2 + size, (w - size) // 2:(w - size) // 2 + size]
