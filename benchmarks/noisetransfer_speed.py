"""Speed: generating one batch with NoiseTransfer's generator (batch 8 of 128x128, the references' embeddings
already computed, as ``GeneratorNoise`` caches them; no gradients) as a fraction of one training step of BasicSR's
``RIDNet`` (64 features) on the same batch: the cost of making pairs on the fly inside another model's training.

Two widths: the official 64 features (7.4 M parameters) and the CPU benchmark's 16
(``options/noisetransfer/noisetransfer_camsim.yml``). Each side runs in a fresh process, in turns (RIDNet, the
generators, RIDNet, ...), the mean over ``--iters`` after one warm-up step; each figure is the median ratio over the
rounds with its range.

    python benchmarks/noisetransfer_speed.py --pairs 3 --out docs/results/noisetransfer_speed.json
"""
import basicsr_noise  # noqa: F401  # isort: skip  (first: basicsr 1.4.2 needs its shims)
import torch
from benchmark_io import ridnet_training_step, speed_main, timed

from basicsr_noise.archs.noisetransfer_arch import NoiseTransferUNet

BATCH, PATCH = 8, 128
GENERATORS = {'noisetransfer_64': 64, 'noisetransfer_16': 16}
SIDES = ('ridnet_step', *GENERATORS)


def generation(name, iters):
    torch.manual_seed(0)
    net = NoiseTransferUNet(num_feat=GENERATORS[name]).eval().requires_grad_(False)
    clean = torch.rand(BATCH, 3, PATCH, PATCH, generator=torch.Generator().manual_seed(0))
    cond = torch.nn.functional.normalize(torch.randn(BATCH, 128, generator=torch.Generator().manual_seed(1)), dim=1)
    generator = torch.Generator().manual_seed(0)

    def step():
        with torch.no_grad():
            (clean + net(clean, cond, generator)).clamp(0, 1)

    return timed(step, iters)


def measure(side, iters):
    return ridnet_training_step(BATCH, PATCH, iters) if side == 'ridnet_step' else generation(side, iters)


def main():
    setting = {'generators': GENERATORS, 'ridnet': 'basicsr RIDNet(3, 64, 3), L1, Adam', 'batch': BATCH,
               'patch': PATCH, 'ratio': 'generation / RIDNet training step'}
    speed_main(__file__, __doc__, SIDES, measure, setting, 'docs/results/noisetransfer_speed.json')


if __name__ == '__main__':
    main()
