"""Tiled inference for images that do not fit in memory at once."""
import torch

from basicsr_noise.utils.errors import InputError


def _tile_starts(length, tile, stride):
    if length <= tile:
        return [0]
    starts = list(range(0, length - tile, stride))
    return starts + [length - tile]


def _valid_mask_1d(start, tile, length, margin, device, dtype):
    """1 where this tile's output is kept: all but ``margin`` pixels at edges that are inside the image."""
    size = min(tile, length)
    mask = torch.ones(size, device=device, dtype=dtype)
    if start > 0:
        mask[:margin] = 0
    if start + size < length:
        mask[size - margin:] = 0
    return mask


@torch.no_grad()
def tiled_forward(fn, x, tile_size, tile_overlap=32, tile_batch=4):
    """Apply ``fn`` to overlapping tiles of ``x`` and stitch the results.

    Each output pixel is taken from the tiles in which it lies at least ``tile_overlap // 2`` pixels away from
    an edge that is inside the image (and averaged where several qualify). When ``tile_overlap // 2`` is at
    least the receptive-field radius of a fully convolutional ``fn``, the result equals ``fn(x)``.

    Args:
        fn (callable): Maps ``(N, C, h, w)`` to ``(N, C_out, h, w)``.
        x (Tensor): Input ``(B, C, H, W)``.
        tile_size (int | None): Tile side; ``None`` or a tile not smaller than the image runs ``fn(x)`` once.
        tile_overlap (int): Overlap of neighbouring tiles in pixels. Default: 32.
        tile_batch (int): Tiles per forward call. Default: 4.

    Returns:
        Tensor: ``(B, C_out, H, W)``.
    """
    b, _, h, w = x.shape
    if tile_size is None or (h <= tile_size and w <= tile_size):
        return fn(x)
    if not 0 <= tile_overlap < tile_size:
        raise InputError(f'tile_overlap must be in [0, tile_size), got {tile_overlap} for tile_size {tile_size}.')
    stride = tile_size - tile_overlap
    margin = tile_overlap // 2
    boxes = [(y0, x0) for y0 in _tile_starts(h, tile_size, stride) for x0 in _tile_starts(w, tile_size, stride)]
    th, tw = min(tile_size, h), min(tile_size, w)

    out = weight = None
    for i in range(0, len(boxes), tile_batch):
        chunk = boxes[i:i + tile_batch]
        tiles = torch.cat([x[:, :, y0:y0 + th, x0:x0 + tw] for y0, x0 in chunk], dim=0)
        results = fn(tiles)
        if results.shape[-2:] != tiles.shape[-2:]:
            raise ValueError('tiled_forward supports only networks whose output has the size of their input.')
        if out is None:
            out = x.new_zeros((b, results.shape[1], h, w))
            weight = x.new_zeros((1, 1, h, w))
        for j, (y0, x0) in enumerate(chunk):
            my = _valid_mask_1d(y0, th, h, margin, x.device, x.dtype)
            mx = _valid_mask_1d(x0, tw, w, margin, x.device, x.dtype)
            mask = (my[:, None] * mx[None, :])[None, None]
            out[:, :, y0:y0 + th, x0:x0 + tw] += results[j * b:(j + 1) * b] * mask
            weight[:, :, y0:y0 + th, x0:x0 + tw] += mask
    return out / weight
