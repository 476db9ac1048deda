"""Cost of on-the-fly generation: one training step of BasicSR's ``RIDNet`` (64 features) through
``SynthNoiseDenoiserModel`` on a batch of 8 stored 128x128 pairs, against the same step with ``mixing.ratio: 0.5``
(half the batch generated in ``feed_data`` by ``GeneratorNoise``). Generators: PNGAN's shipped SMNet (multi-scale,
64 features), the CPU recipe's SMNet (32 features), and NoiseTransfer at the official width (64); random weights
(the cost does not depend on them). Each side in a fresh process, in turns; the median ratio over the rounds with
its range.

    python benchmarks/mixing_speed.py --pairs 3 --out docs/results/mixing_speed.json
"""
import basicsr_noise  # noqa: F401  # isort: skip  (first: basicsr 1.4.2 needs its shims)
import os
import tempfile
import torch
from basicsr.archs import build_network
from basicsr.models import build_model
from benchmark_io import speed_main, timed
from os import path as osp

BATCH, PATCH = 8, 128
AWGN_50 = {'type': 'AWGNNoise', 'sigma': 50}
GENERATORS = {
    'pngan_smnet_64': {'network_g': {'type': 'SMNet', 'num_feat': 64}, 'input_noise': AWGN_50},
    'pngan_smnet_32': {'network_g': {'type': 'SMNet', 'num_feat': 32}, 'input_noise': AWGN_50},
    'noisetransfer_64': {'network_g': {'type': 'NoiseTransferUNet', 'num_feat': 64},
                         'network_key_encoder': {'type': 'NoiseTransferContraE', 'num_feat': 64}},
}

SIDES = ('stored_pairs', *GENERATORS)


def _checkpoint(folder, name):
    meta = GENERATORS[name]
    ckpt = {'params': build_network(dict(meta['network_g'])).state_dict(), 'meta': dict(meta)}
    if 'network_key_encoder' in meta:
        ckpt['params_key_encoder'] = build_network(dict(meta['network_key_encoder'])).state_dict()
    path = osp.join(folder, f'{name}.pth')
    torch.save(ckpt, path)
    return path


def step_seconds(side, iters):
    torch.manual_seed(0)
    folder = tempfile.mkdtemp()
    refs = osp.join(folder, 'refs')
    os.makedirs(refs)
    import cv2
    import numpy as np
    cv2.imwrite(osp.join(refs, 'ref.png'), (np.random.default_rng(0).random((64, 64, 3)) * 255).astype(np.uint8))
    opt = {
        'name': 'speed', 'model_type': 'SynthNoiseDenoiserModel', 'scale': 1, 'num_gpu': 0, 'manual_seed': 0,
        'is_train': True, 'dist': False, 'rank': 0, 'world_size': 1,
        'network_g': {'type': 'RIDNet', 'in_channels': 3, 'mid_channels': 64, 'out_channels': 3},
        'path': {'pretrain_network_g': None, 'strict_load_g': True, 'resume_state': None, 'models': folder,
                 'training_states': folder, 'visualization': folder},
        'train': {'ema_decay': 0, 'optim_g': {'type': 'Adam', 'lr': 1e-4},
                  'scheduler': {'type': 'MultiStepLR', 'milestones': [10**6], 'gamma': 0.5}, 'total_iter': 10,
                  'warmup_iter': -1, 'pixel_opt': {'type': 'L1Loss', 'loss_weight': 1.0}},
    }
    if side != 'stored_pairs':
        noise_opt = {'type': 'GeneratorNoise', 'checkpoint': _checkpoint(folder, side)}
        if side.startswith('noisetransfer'):
            noise_opt['reference'] = refs
        opt['mixing'] = {'ratio': 0.5, 'noise_opt': noise_opt}
    model = build_model(opt)
    data = {k: torch.rand(BATCH, 3, PATCH, PATCH, generator=torch.Generator().manual_seed(s))
            for s, k in enumerate(('gt', 'lq', 'clean'))}

    def step():
        model.feed_data(data)
        model.optimize_parameters(1)

    return timed(step, iters)


def measure(side, iters):
    return step_seconds(side, iters)


def main():
    setting = {'generators': GENERATORS, 'denoiser': 'basicsr RIDNet(3, 64, 3), L1, Adam', 'batch': BATCH,
               'patch': PATCH, 'mixing_ratio': 0.5, 'ratio': 'step with on-the-fly generation / step on stored pairs'}
    speed_main(__file__, __doc__, SIDES, measure, setting, 'docs/results/mixing_speed.json')


if __name__ == '__main__':
    main()
