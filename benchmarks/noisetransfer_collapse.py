"""Which of NoiseTransfer's loss terms pull the generated noise towards zero early in training (docs/noisetransfer.md).

    python benchmarks/noisetransfer_collapse.py [--iters 150] [--out FILE]

The release's recipe (``options/noisetransfer.yml``: its losses, weights, Adam 1e-4, key momentum 0.999) at width 16
and a 256-key queue, on 48x48 crops of the bundled training images with Gaussian noise of sigma 25 (a fresh draw
per crop; the reference is another crop with the same sigma), batch 8. Arms differ in one setting: all terms (the
release), GAN + InfoNCE alone, and GAN + InfoNCE plus one x100 L1 term (D feature matching, E feature matching,
the blurred consistency), and all terms with the L1 terms ramped in (``noisetransfer.l1_warmup_iter`` 50 and
100) or their weights lowered (x0.1, x0.01). Each arm records the standard deviation of the generated noise
``G(c, k)`` (0-255 scale) per iteration; the real noise's is 25.
A tiny-budget CPU run: it shows the early dynamics only.
"""
import basicsr_noise  # noqa: F401  # isort: skip  (first: basicsr 1.4.2 needs its shims)
import argparse
import json
import numpy as np
import torch
from benchmark_io import save_results
from os import path as osp

from basicsr_noise.data.bundled_images import TRAIN_IMAGES, bundled_image
from basicsr_noise.evaluation.official_training import build_shipped_model

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
L1_TERMS = ('feature_match_d_opt', 'feature_match_e_opt', 'consistency_opt')
ARMS = {  # the option changes of each arm: dropped terms (None) or the L1 warm-up
    'all terms (release)': {},
    'GAN + InfoNCE only': {f'train.{key}': None for key in L1_TERMS},
    'GAN + InfoNCE + fm_d': {'train.feature_match_e_opt': None, 'train.consistency_opt': None},
    'GAN + InfoNCE + fm_e': {'train.feature_match_d_opt': None, 'train.consistency_opt': None},
    'GAN + InfoNCE + consistency': {'train.feature_match_d_opt': None, 'train.feature_match_e_opt': None},
    'all terms, L1 warm-up 50': {'noisetransfer.l1_warmup_iter': 50},
    'all terms, L1 warm-up 100': {'noisetransfer.l1_warmup_iter': 100},
    'all terms, L1 weights x0.1': {f'train.{key}.loss_weight': 10.0 for key in L1_TERMS},
    'all terms, L1 weights x0.01': {f'train.{key}.loss_weight': 1.0 for key in L1_TERMS},
}


def batches(iters, batch, size, sigma, seed):
    """``(clean, noisy, reference)`` batches; the same stream for every arm."""
    images = [torch.from_numpy(bundled_image(name)).permute(2, 0, 1).float() / 255. for name in TRAIN_IMAGES]
    g = torch.Generator().manual_seed(seed)

    def crops():
        out = []
        for _ in range(batch):
            img = images[int(torch.randint(len(images), (1, ), generator=g))]
            top = int(torch.randint(img.shape[1] - size + 1, (1, ), generator=g))
            left = int(torch.randint(img.shape[2] - size + 1, (1, ), generator=g))
            out.append(img[:, top:top + size, left:left + size])
        return torch.stack(out)

    for _ in range(iters):
        clean, other = crops(), crops()
        noisy = clean + sigma / 255. * torch.randn(clean.shape, generator=g)
        ref = other + sigma / 255. * torch.randn(other.shape, generator=g)
        yield clean, noisy, ref


def run_arm(arm_changes, args):
    torch.manual_seed(0)
    changes = {
        'network_g.num_feat': 16,
        'network_d.num_feat': 16,
        'noisetransfer.queue_size': 256,
        'manual_seed': 0,
        'datasets.train.batch_size_per_gpu': args.batch
    }
    changes.update(arm_changes)
    model = build_shipped_model('noisetransfer.yml', changes)
    stds = []
    for it, (clean, noisy, ref) in enumerate(batches(args.iters, args.batch, args.size, args.sigma, 1), 1):
        model.feed_data({'gt': clean, 'lq': noisy, 'ref': ref})
        model.optimize_parameters(it)
        stds.append(255. * (model.output - model.gt).detach().std().item())
    return stds


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--iters', type=int, default=150)
    parser.add_argument('--batch', type=int, default=8)
    parser.add_argument('--size', type=int, default=48)
    parser.add_argument('--sigma', type=float, default=25.)
    parser.add_argument('--arms', nargs='*', default=list(ARMS), help='Run these arms (others kept from --out).')
    parser.add_argument('--out', default=osp.join(ROOT, 'docs', 'results', 'noisetransfer_collapse.json'))
    args = parser.parse_args()
    torch.set_num_threads(1)
    results = {'settings': {k: v for k, v in vars(args).items() if k != 'arms'}, 'arms': {}}
    if set(args.arms) != set(ARMS) and osp.isfile(args.out):
        kept = json.load(open(args.out))
        if kept['settings'] == results['settings']:
            results['arms'] = {name: kept['arms'][name] for name in ARMS if name in kept['arms']}
    for name in args.arms:
        stds = run_arm(ARMS[name], args)
        marks = sorted({5, 10, 25, 50, 75, 100, 125, args.iters} & set(range(1, args.iters + 1)))
        results['arms'][name] = {
            'std_at': {
                str(m): round(float(np.mean(stds[max(0, m - 5):m])), 2)
                for m in marks
            },  # mean of 5 its
            'min_std': round(min(stds), 2),
            'std': [round(s, 3) for s in stds]
        }
        print(name, results['arms'][name]['std_at'], flush=True)
    save_results(results, args.out)


if __name__ == '__main__':
    main()
