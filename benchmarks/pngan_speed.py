"""Speed: generating one batch with PNGAN's SMNet (the shipped generator: multi-scale, 64 features; batch 8 of 128x128,
its AWGN input drawn, no gradients) as a fraction of one training step of BasicSR's ``RIDNet`` (64 features) on the
same batch (forward, L1 backward, Adam step): the cost of making pairs on the fly inside another model's training.

Three generators (the shipped multi-scale SMNet at 64 features, the released single-scale variant at 64, the CPU
benchmark's multi-scale at 32). Each side runs in a fresh process, in turns (RIDNet, the three generators, RIDNet,
...), the mean over ``--iters`` after one warm-up step; each figure is the median ratio over the rounds with its
range.

    python benchmarks/pngan_speed.py --pairs 3 --out docs/results/pngan_speed.json
"""
import basicsr_noise  # noqa: F401  # isort: skip  (first: basicsr 1.4.2 needs its shims)
import torch
from benchmark_io import ridnet_training_step, speed_main, timed
from os import path as osp

from basicsr_noise.archs.pngan_arch import SMNet
from basicsr_noise.noise import build_noise
from basicsr_noise.utils.options import load_options

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
BATCH, PATCH = 8, 128


GENERATORS = {  # the shipped generator, the released variant, and the CPU benchmark's (options/pngan/pngan_camsim.yml)
    'smnet_multiscale_64': {'variant': 'multiscale', 'num_feat': 64},
    'smnet_released_64': {'variant': 'released', 'num_feat': 64},
    'smnet_multiscale_32': {'variant': 'multiscale', 'num_feat': 32},
}

SIDES = ('ridnet_step', *GENERATORS)


def generation(name, iters):
    shipped = load_options(osp.join(REPO, 'options', 'pngan', 'pngan_sidd.yml'))
    net_opt = dict(shipped['network_g'], **GENERATORS[name])
    assert net_opt.pop('type') == 'SMNet'
    net = SMNet(**net_opt).eval().requires_grad_(False)
    noise, generator = build_noise(shipped['pngan']['noise_opt']), torch.Generator().manual_seed(0)
    clean = torch.rand(BATCH, 3, PATCH, PATCH, generator=torch.Generator().manual_seed(0))

    def step():
        with torch.no_grad():
            net(noise(clean, generator).noisy)

    return timed(step, iters)


def measure(side, iters):
    return ridnet_training_step(BATCH, PATCH, iters) if side == 'ridnet_step' else generation(side, iters)


def main():
    setting = {'generators': GENERATORS, 'input': 'AWGN sigma 50, clipped, quantised', 'batch': BATCH, 'patch': PATCH,
               'ridnet': 'basicsr RIDNet(3, 64, 3), L1, Adam', 'ratio': 'generation / RIDNet training step'}
    speed_main(__file__, __doc__, SIDES, measure, setting, 'docs/results/pngan_speed.json')


if __name__ == '__main__':
    main()
