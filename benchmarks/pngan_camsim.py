"""PNGAN's generated noise on the simulated camera benchmark: AKLD, KS and PGap against the real (camsim) noise, on
the protocol and data of ``benchmarks/camsim_noise_eval.py`` (whose rows are the baselines).

1. ``D_d``: the PGap recipe's denoiser (colour DnCNN, 10 layers, 48 features) trained on the 38 paired training
   tiles (``SynthNoiseDenoiserModel``, real pairs, MSE);
2. PNGAN: ``options/pngan/pngan_camsim.yml`` (SMNet multi-scale at 32 features, dense D at 32, 48x48 patches,
   batch 8, Adam 1e-3 cosine, lambda_ra 8e-4; no perceptual term: no ImageNet VGG weights here) on the same
   paired tiles, the AWGN sigma-50 input of the paper;
3. scores: one generated image per test tile (seeds 100 + index) against the tile's real noisy version (AKLD, KS),
   and ``pgap`` with the generator as its noise source (``GeneratorNoise``), the recipe of the existing rows.

    python benchmarks/pngan_camsim.py --out docs/results/pngan_camsim.json
"""
import basicsr_noise  # noqa: F401  # isort: skip  (first: basicsr 1.4.2 needs its shims)
import argparse
from benchmark_io import (CAMSIM_PGAP_RECIPE, camsim_denoiser_options, camsim_pgap_options, save_results,
                          train_through_basicsr)
from os import path as osp

from basicsr_noise.evaluation.camsim import prepare_camsim
from basicsr_noise.evaluation.eval_noise import evaluate_noise
from basicsr_noise.evaluation.pgap import materialise_source, run_pgap
from basicsr_noise.utils.options import load_options

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
RECIPE = CAMSIM_PGAP_RECIPE


def denoiser_options(camsim, iters):
    """D_d: the PGap recipe's network and schedule on the real training pairs."""
    return camsim_denoiser_options('camsim_dd', camsim, iters)


def pngan_options(camsim, work, iters):
    """The shipped CPU recipe, its data and D_d pointed at this run."""
    opt = load_options(osp.join(REPO, 'options', 'pngan', 'pngan_camsim.yml'))
    for phase, split in (('train', 'train'), ('val', 'test')):
        opt['datasets'][phase].update(dataroot_lq=osp.join(camsim, split, 'noisy'),
                                      dataroot_gt=osp.join(camsim, split, 'clean'))
    opt['path']['pretrain_network_dd'] = osp.join(work, 'experiments', 'camsim_dd', 'models', 'net_g_latest.pth')
    opt['train'].update(total_iter=iters)
    opt['train']['scheduler']['T_max'] = iters
    opt['logger'].update(save_checkpoint_freq=iters)
    opt['val']['val_freq'] = iters
    return opt


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--iters', type=int, default=1500, help='PNGAN training iterations.')
    parser.add_argument('--dd_iters', type=int, default=1500, help='D_d training iterations.')
    parser.add_argument('--pgap_iters', type=int, default=1500, help='PGap training iterations per denoiser.')
    parser.add_argument('--work', default='benchmarks/_work/pngan_camsim')
    parser.add_argument('--out', default='docs/results/pngan_camsim.json')
    args = parser.parse_args()
    work = osp.abspath(args.work)
    camsim = osp.join(work, 'camsim')
    if not osp.isfile(osp.join(camsim, 'camsim.json')):
        prepare_camsim(camsim)
    seconds = {'dd': train_through_basicsr(work, 'camsim_dd', denoiser_options(camsim, args.dd_iters))}
    opt = pngan_options(camsim, work, args.iters)
    seconds['pngan'] = train_through_basicsr(work, opt['name'], opt)
    ckpt = osp.join(work, 'experiments', opt['name'], 'models', 'net_g_latest.pth')
    results = {'setting': {'pngan_options': opt, 'dd': denoiser_options(camsim, args.dd_iters)['network_g'],
                           'train_seconds': seconds, 'akld_ks': 'one generated image per test tile, seeds 100 + index'}}
    sources = {'pngan': {'type': 'GeneratorNoise', 'checkpoint': ckpt},
               'pngan_input_awgn50': dict(opt['pngan']['noise_opt'])}
    recipe = dict(RECIPE, total_iter=args.pgap_iters)
    for name, noise_opt in sources.items():
        fake = osp.join(work, 'generated', name)
        materialise_source(noise_opt, osp.join(camsim, 'test', 'clean'), fake, seed=100)
        report = evaluate_noise(osp.join(camsim, 'test', 'clean'), osp.join(camsim, 'test', 'noisy'), fake,
                                osp.join(work, 'eval', name), figures=False)
        entry = {'noise_opt': noise_opt, 'akld': report['mean']['akld'], 'ks': report['mean']['ks'],
                 'fake_std': report['mean']['fake_std'], 'real_std': report['mean']['real_std']}
        if name == 'pngan':
            pgap = run_pgap(camsim_pgap_options(f'camsim_{name}', camsim, noise_opt, recipe), root=work)
            entry.update({k: pgap[k] for k in ('psnr_real_trained', 'psnr_source_trained', 'pgap')})
        results[name] = entry
        print(f'{name}: AKLD {entry["akld"]:.3f}, KS {entry["ks"]:.3f}' +
              (f', PGap {entry["pgap"]:.2f} dB' if 'pgap' in entry else ''), flush=True)
    save_results(results, args.out)


if __name__ == '__main__':
    main()
