#!/usr/bin/env python
"""Packaging for basicsr-noise.

BasicSR 1.4.2 ships as an sdist whose ``setup.py`` imports torch, and it cannot build on Python 3.13, so
``python_requires`` stops below 3.13 and the Makefile installs torch first and BasicSR without build isolation.
Version ranges stay loose here; ``constraints.txt`` pins the exact stack that CI runs.
"""
import os
import re
from setuptools import find_packages, setup
from setuptools.command.build_py import build_py


class BuildPyWithOptions(build_py):
    """Also copy ``options/`` into the built package (``basicsr_noise/options``), so that a non-editable install
    ships the option files that ``basicsr-noise demo`` runs (a source checkout reads them from ``options/``)."""

    def run(self):
        super().run()
        self.copy_tree('options', os.path.join(self.build_lib, 'basicsr_noise', 'options'))


with open('basicsr_noise/version.py', encoding='utf-8') as f:
    VERSION = re.search(r"__version__ = '(.+)'", f.read()).group(1)

setup(
    name='basicsr-noise',
    version=VERSION,
    description='Learning from noisy images in BasicSR: R2R, DBSN, NTGAN, PNGAN and NoiseTransfer as a plugin',
    long_description=open('README.md', encoding='utf-8').read(),
    long_description_content_type='text/markdown',
    license='Apache License 2.0',
    packages=find_packages(exclude=('tests', 'tests.*', 'benchmarks', 'options', 'datasets', 'docs')),
    cmdclass={'build_py': BuildPyWithOptions},
    python_requires='>=3.9,<3.13',
    install_requires=[
        'basicsr>=1.4.2,<1.5',
        'torch>=2.1',
        'torchvision>=0.16',
        'numpy>=1.24',
        'opencv-python>=4.5',
        'lmdb>=1.0',
        'pyyaml>=5.4',
        'scikit-image>=0.21',
        'tqdm>=4.60',
        'h5py>=3.0',  # the DND release is MATLAB v7.3 (HDF5)
        'scipy>=1.9',  # .mat files (SIDD, DND, DoRF curves)
        'Pillow>=9',  # image headers
        'mmengine>=0.10',  # Config: _base_ inheritance of option files
        'setuptools',  # provides distutils, which basicsr 1.4.2 imports on Python >= 3.12
    ],
    extras_require={
        'test': ['pytest>=7', 'pytest-xdist>=3', 'flake8>=5', 'isort>=5', 'yapf>=0.32', 'colour-demosaicing>=0.2'],
        'bench': ['bm3d>=4.0'],  # the BM3D baseline of the benchmarks
    },
    entry_points={
        'console_scripts': [
            'basicsr = basicsr_noise.cli:main',
            'basicsr-noise = basicsr_noise.cli:main',
        ],
        # Plugins for the `basicsr` command register here; this package is one of them.
        'basicsr.plugins': ['noise = basicsr_noise'],
    },
    classifiers=[
        'Programming Language :: Python :: 3',
        'License :: OSI Approved :: Apache Software License',
        'Topic :: Scientific/Engineering :: Image Processing',
    ],
)
