"""Outputs written atomically: a folder, a file or an LMDB appears whole under its name, or not at all.

Each is built under ``<path>.tmp<pid>`` and renamed over ``path`` at the end; an exception removes the temporary,
so an interrupted run never leaves half an output behind, and an existing output is only replaced with
``overwrite``.
"""
import cv2
import lmdb
import numpy as np
import os
import shutil
import torch
from contextlib import contextmanager
from os import path as osp


def _check_free(path, overwrite):
    if osp.exists(path) and not overwrite:
        raise FileExistsError(f'{path} exists; pass --overwrite to replace it.')


class AtomicOutput:
    """A folder written under ``<path>.tmp<pid>`` and renamed to ``path`` on success, removed on failure.

    ``with AtomicOutput(path) as folder:`` yields the temporary folder to write into.
    """

    def __init__(self, path, overwrite=False):
        self.path = str(path).rstrip('/')
        _check_free(self.path, overwrite)
        self.tmp = f'{self.path}.tmp{os.getpid()}'

    def __enter__(self):
        if osp.exists(self.tmp):
            shutil.rmtree(self.tmp)
        os.makedirs(self.tmp)
        return self.tmp

    def __exit__(self, exc_type, exc, tb):
        if exc_type is not None:
            shutil.rmtree(self.tmp, ignore_errors=True)
            return False
        if osp.exists(self.path):
            shutil.rmtree(self.path)
        os.replace(self.tmp, self.path)
        return False


@contextmanager
def atomic_file(path, overwrite=True):
    """Yield a temporary file name next to ``path``; it replaces ``path`` when the block ends without error."""
    path = str(path)
    _check_free(path, overwrite)
    tmp = f'{path}.tmp{os.getpid()}'
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        if osp.exists(tmp):
            os.remove(tmp)


def atomic_torch_save(obj, path):
    """``torch.save`` through :func:`atomic_file`: an interrupted save never leaves half a checkpoint."""
    with atomic_file(path) as tmp:
        torch.save(obj, tmp)


def lmdb_map_size(shapes):
    """An upper bound of the LMDB size for PNG-encoded images of these ``(h, w, c)`` shapes."""
    raw = sum(int(np.prod(s)) for s in shapes)
    return int(raw * 1.1) + len(shapes) * 16384 + (64 << 20)


class LmdbWriter:
    """Writes images into an LMDB in BasicSR's format (PNG bytes, ``meta_info.txt``), atomically.

    Args:
        path (str): Output, ending with ``.lmdb``.
        map_size (int): LMDB map size (see :func:`lmdb_map_size`).
        overwrite (bool): Replace an existing output.
        compress_level (int): PNG compression level. Default: 1.
        batch (int): Images per LMDB transaction. Default: 1000.
    """

    def __init__(self, path, map_size, overwrite=False, compress_level=1, batch=1000):
        if not str(path).rstrip('/').endswith('.lmdb'):
            raise ValueError(f'An LMDB path must end with .lmdb, got {path}.')
        self.output = AtomicOutput(path, overwrite)
        self.map_size, self.compress_level, self.batch = map_size, compress_level, batch

    def __enter__(self):
        self.folder = self.output.__enter__()
        self.env = lmdb.open(self.folder, map_size=self.map_size)
        self.txn = self.env.begin(write=True)
        self.meta, self.keys = [], set()
        return self

    def put(self, key, img):
        """Add an HWC (or HW) uint8 image (BGR, OpenCV order) under ``key`` (no dots: BasicSR splits on them)."""
        if '.' in key or key in self.keys:
            raise ValueError(f'LMDB key {key!r} contains a dot or is repeated.')
        ok, encoded = cv2.imencode('.png', img, [cv2.IMWRITE_PNG_COMPRESSION, self.compress_level])
        if not ok:
            raise ValueError(f'Cannot encode the image for key {key}.')
        self.txn.put(key.encode('ascii'), encoded.tobytes())
        h, w = img.shape[:2]
        self.meta.append(f'{key}.png ({h},{w},{1 if img.ndim == 2 else img.shape[2]}) {self.compress_level}\n')
        self.keys.add(key)
        if len(self.meta) % self.batch == 0:
            self.txn.commit()
            self.txn = self.env.begin(write=True)

    def __exit__(self, exc_type, exc, tb):
        if exc_type is None:
            self.txn.commit()
        else:
            self.txn.abort()
        self.env.close()
        if exc_type is None:
            with open(osp.join(self.folder, 'meta_info.txt'), 'w') as f:
                f.writelines(self.meta)
        return self.output.__exit__(exc_type, exc, tb)
