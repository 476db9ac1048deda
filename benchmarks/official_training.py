"""How far our training steps are from the official code's, on its fixtures, as shipped and with the settings that
make them differ (the figures of the "Equivalence with the official training" sections of docs/r2r.md,
docs/dbsn.md and docs/noisetransfer.md).

    python benchmarks/official_training.py [--fixtures ../shared/data/official_formats] [--out FILE]

One thread (the fixtures' own setting; with two, the convolution backward sums in another order).
"""
import basicsr_noise  # noqa: F401  # isort: skip  (first: basicsr 1.4.2 needs its shims)
import argparse
import torch
from benchmark_io import save_results
from os import path as osp

from basicsr_noise.evaluation.official_training import (EncoderCalledInTheEarlierOrder, run_dbsn, run_noisetransfer,
                                                        run_r2r, step_difference)

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))


def worst_loss(pairs):
    return max(abs(ours / official - 1) for ours, official in pairs)


def summary(losses, states):
    """The largest relative loss difference and, per network, the step difference (see ``step_difference``)."""
    return {'loss_rel_max': worst_loss(losses), 'networks': {name: step_difference(*s) for name, s in states.items()}}


def r2r_arm(fixtures, **changes):
    result = run_r2r(fixtures, **changes)
    last = result['steps'][-1]['state']
    first = result['steps'][0]['state']
    return {
        'losses': [s['loss'] for s in result['steps']],
        'after_step1': step_difference(*first, result['initial']),
        **summary([s['loss'] for s in result['steps']], {'net_g': (*last, result['initial'])})
    }


def dbsn_arm(fixtures, run, **changes):
    result = run_dbsn(fixtures, run, **changes)
    return summary([r['loss'] for r in result['iters']], result['states'])


def noisetransfer_arm(fixtures, model_class=None):
    result = run_noisetransfer(fixtures, model_class)
    losses = [pair for record in result['iters'] for name, pair in record['losses'].items() if name != 'out_g_nce_acc']
    out = summary(losses, result['states'])
    out['per_term_rel'] = {
        name: max(abs(r['losses'][name][0] / r['losses'][name][1] - 1) for r in result['iters'])
        for name in result['iters'][0]['losses'] if name != 'out_g_nce_acc'
    }
    out['queue_max_abs'] = (result['queue'][0] - result['queue'][1]).abs().max().item()
    return out


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--fixtures', default=osp.join(osp.dirname(ROOT), 'shared', 'data', 'official_formats'))
    parser.add_argument('--out', default=osp.join(ROOT, 'docs', 'results', 'official_training.json'))
    args = parser.parse_args()
    torch.set_num_threads(1)
    mean_mse = {'train.pixel_opt.reduction': 'mean', 'train.pixel_opt.loss_weight': 1.}
    ours_dbsn = {
        'train.likelihood_opt.loss_weight': 1.,
        'train.likelihood_opt.eps': 1e-6,
        'train.likelihood_opt.noise_var_min': 0.,
        'network_noise.output_offset': 0.
    }
    results = {
        'r2r': {
            'shipped (sum / (2 batch))': r2r_arm(args.fixtures),
            'mean MSE (the files before)': r2r_arm(args.fixtures, **mean_mse),
        },
        'dbsn': {
            'joint_map, official file':
            dbsn_arm(args.fixtures, 'joint_map'),
            'joint_map, our recipe defaults (weight 1, eps 1e-6, no offset)':
            dbsn_arm(args.fixtures, 'joint_map', **ours_dbsn),
            'joint_constrained, official settings':
            dbsn_arm(args.fixtures, 'joint_constrained'),
            'joint_constrained, our recipe defaults':
            dbsn_arm(args.fixtures, 'joint_constrained', **ours_dbsn),
            'mu, official scale':
            dbsn_arm(args.fixtures, 'mu'),
            'mu, our recipe default (weight 1)':
            dbsn_arm(args.fixtures, 'mu', **{'train.pixel_opt.loss_weight': 1.}),
        },
        'noisetransfer': {
            'shipped (the release order)': noisetransfer_arm(args.fixtures),
            'the earlier order': noisetransfer_arm(args.fixtures, EncoderCalledInTheEarlierOrder),
        },
    }
    save_results(results, args.out)


if __name__ == '__main__':
    main()
