"""Listing and reading image files, with errors that name the file."""
import cv2
import os
from os import path as osp

from basicsr_noise.utils.errors import InputError

IMG_EXTENSIONS = ('.png', '.jpg', '.jpeg', '.bmp', '.tif', '.tiff', '.webp')


def is_image_file(name):
    return name.lower().endswith(IMG_EXTENSIONS)


def list_images(path, recursive=False):
    """One image file, or the image files of a folder (sorted; with ``recursive``, of its subfolders too)."""
    if osp.isfile(path):
        return [path]
    if not osp.isdir(path):
        raise FileNotFoundError(f'Input {path} does not exist.')
    if recursive:
        files = [osp.join(root, f) for root, _, names in os.walk(path) for f in names if is_image_file(f)]
    else:
        files = [osp.join(path, f) for f in os.listdir(path) if is_image_file(f)]
    if not files:
        raise FileNotFoundError(f'No images in {path}.')
    return sorted(files)


def read_image(path, flag=cv2.IMREAD_COLOR):
    """``cv2.imread`` that raises for a missing or undecodable file instead of returning None."""
    if not osp.isfile(path):
        raise FileNotFoundError(f'Image {path} does not exist.')
    img = cv2.imread(path, flag)
    if img is None:
        raise InputError(f'Cannot decode image {path}: the file is empty, corrupt or not an image.')
    return img


def write_image(path, img):
    """``cv2.imwrite`` into a folder it creates, raising when nothing was written."""
    os.makedirs(osp.dirname(osp.abspath(path)), exist_ok=True)
    if not cv2.imwrite(path, img):
        raise OSError(f'Cannot write image {path}.')
