"""Memory: peak resident memory of ``basicsr-noise infer`` with the full-size NTGAN network, tiled, on a
12-megapixel image (4000 x 3000), in a fresh process; with its wall time and throughput.

The checkpoint is the released architecture (64 features, 3.5 M values) with random weights: memory and speed do
not depend on the weights.

    python benchmarks/ntgan_memory.py --out docs/results/ntgan_memory.json
"""
import basicsr_noise  # noqa: F401  # isort: skip  (first: basicsr 1.4.2 needs its shims)
import argparse
import cv2
import numpy as np
import resource
import subprocess
import sys
import tempfile
import time
import torch
from benchmark_io import save_results
from os import path as osp

from basicsr_noise.archs.ntgan_arch import NTGANNet


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--width', type=int, default=4000)
    parser.add_argument('--height', type=int, default=3000)
    parser.add_argument('--tile', type=int, default=512)
    parser.add_argument('--tile_overlap', type=int, default=32)
    parser.add_argument('--out', default='docs/results/ntgan_memory.json')
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as work:
        rng = np.random.default_rng(0)
        low = rng.uniform(0, 255, (args.height // 16, args.width // 16, 3)).astype(np.float32)
        image = cv2.resize(low, (args.width, args.height), interpolation=cv2.INTER_CUBIC)
        image = np.clip(image + rng.normal(0, 10, image.shape), 0, 255).astype(np.uint8)
        cv2.imwrite(osp.join(work, 'big.png'), image)
        net_opt = {'type': 'NTGANNet', 'num_in_ch': 3, 'num_feat': 64}
        torch.save({'params': NTGANNet().state_dict(), 'meta': {'network_g': net_opt}}, osp.join(work, 'ntgan.pth'))
        command = [sys.executable, '-m', 'basicsr_noise', 'infer', '-i', osp.join(work, 'big.png'), '-o',
                   osp.join(work, 'out'), '--ckpt', osp.join(work, 'ntgan.pth'), '--tile', str(args.tile),
                   '--tile_overlap', str(args.tile_overlap), '--device', 'cpu']
        start = time.time()
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        seconds = time.time() - start
        peak_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss  # the largest child: the infer process
        assert cv2.imread(osp.join(work, 'out', 'big.png')).shape == image.shape
    megapixels = args.width * args.height / 1e6
    save_results({
        'setting': {'image': f'{args.width}x{args.height}', 'megapixels': megapixels, 'tile': args.tile,
                    'tile_overlap': args.tile_overlap, 'network': '64 features (released size)', 'device': 'cpu',
                    'torch': torch.__version__},
        'peak_rss_gib': peak_kib / 2**20, 'seconds': round(seconds, 1), 'megapixels_per_s': megapixels / seconds,
    }, args.out)


if __name__ == '__main__':
    main()
