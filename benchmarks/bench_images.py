"""Grey benchmark images: disjoint training and test images bundled with scikit-image (no download)."""
import basicsr_noise  # noqa: F401  (shims before basicsr)
from basicsr_noise.data.bundled_images import bundled_image, centre_crop  # noqa: F401  (centre_crop: the benchmarks')

TRAIN = ('astronaut', 'camera', 'coffee', 'rocket', 'brick', 'gravel', 'grass', 'hubble_deep_field')
TEST = ('chelsea', 'coins', 'motorcycle', 'immunohistochemistry')


def grey_image(name, max_side=256):
    """A scikit-image image as grey uint8, at most ``max_side`` pixels on its longer side."""
    return bundled_image(name, max_side, grey=True)
