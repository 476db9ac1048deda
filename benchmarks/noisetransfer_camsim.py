"""NoiseTransfer's generated noise on the simulated camera benchmark: AKLD, KS and PGap against the real (camsim)
noise with the paired reference (the official evaluation), one-shot transfer to a camera setting held out of
training, and the synthetic families; on the protocol and data of ``benchmarks/camsim_noise_eval.py``.

1. ``options/noisetransfer/noisetransfer_camsim.yml`` (width 16, 48x48 patches, batch 8, the release's losses):
   the camsim paired training tiles (each tile's reference another tile of the same setting) mixed 30 : 70 with the
   release's synthetic families on the same clean tiles;
2. paired-reference scores: every test tile generated from its own real noisy version (seed 100 + index), against
   that real noisy tile (AKLD, KS); PGap with the recipe of the existing rows, the source denoiser trained on the
   training tiles generated the same way (``pgap`` source ``folder``);
3. one-shot: the same recipe trained without one setting's tiles; that setting's test tiles are generated from one
   held-out training tile of it, against AWGN at the setting's real standard deviation;
4. synthetic families (model 1): Gaussian sigma 25, Poisson chi 30 and PG (30, 25) applied to the test tiles, each
   generated from its paired reference, against the true process.

    python benchmarks/noisetransfer_camsim.py --out docs/results/noisetransfer_camsim.json
"""
import basicsr_noise  # noqa: F401  # isort: skip  (first: basicsr 1.4.2 needs its shims)
import argparse
import cv2
import json
import numpy as np
import os
from benchmark_io import CAMSIM_PGAP_RECIPE, camsim_pgap_options, save_results, train_through_basicsr
from os import path as osp

from basicsr_noise.data.generated_images import generate_paired_transfer
from basicsr_noise.evaluation.camsim import prepare_camsim
from basicsr_noise.evaluation.eval_noise import evaluate_noise
from basicsr_noise.evaluation.pgap import materialise_source, run_pgap
from basicsr_noise.noise import GeneratorNoise
from basicsr_noise.utils.options import load_options

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
RECIPE = CAMSIM_PGAP_RECIPE
FAMILIES = {
    'gaussian_25': {'type': 'AWGNNoise', 'sigma': 25, 'clip': True},
    'poisson_30': {'type': 'PoissonNoise', 'peak': 30, 'clip': True},
    'poisson_gaussian_30_25': {'type': 'ComposeNoise', 'clip': True,
                               'models': [{'type': 'PoissonNoise', 'peak': 30}, {'type': 'AWGNNoise', 'sigma': 25}]},
}


def settings_of(camsim, split):
    tiles = json.load(open(osp.join(camsim, 'camsim.json')))['tiles']
    return {k.split('/', 1)[1]: v['setting'] for k, v in tiles.items() if k.startswith(f'{split}/')}


def link_subset(camsim, split, files, folder):
    """``folder/{clean,noisy}`` with links to the ``split`` tiles ``files``."""
    for kind in ('clean', 'noisy'):
        os.makedirs(osp.join(folder, kind), exist_ok=True)
        for file in files:
            target = osp.join(folder, kind, file)
            if not osp.exists(target):
                os.symlink(osp.join(camsim, split, kind, file), target)
    return folder


def nt_options(pairs, class_file, name, iters):
    opt = load_options(osp.join(REPO, 'options', 'noisetransfer', 'noisetransfer_camsim.yml'))
    opt['name'] = name
    synthetic, real = opt['datasets']['train']['branches']
    synthetic['dataroot_gt'] = osp.join(pairs, 'clean')
    real.update(dataroot_gt=osp.join(pairs, 'clean'), dataroot_lq=osp.join(pairs, 'noisy'),
                reference_class_file=class_file)
    camsim = osp.dirname(pairs) if osp.basename(pairs) == 'train' else None
    if camsim:
        opt['datasets']['val'].update(dataroot_lq=osp.join(camsim, 'test', 'noisy'),
                                      dataroot_gt=osp.join(camsim, 'test', 'clean'))
    else:
        del opt['datasets']['val'], opt['val']
    opt['train']['total_iter'] = iters
    opt['logger']['save_checkpoint_freq'] = iters
    if 'val' in opt:
        opt['val']['val_freq'] = iters
    return opt


def scores(clean_dir, real_dir, fake_dir, work, name):
    report = evaluate_noise(clean_dir, real_dir, fake_dir, osp.join(work, 'eval', name), figures=False)
    return {k: report['mean'][k] for k in ('akld', 'ks', 'fake_std', 'real_std')}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--iters', type=int, default=1500, help='NoiseTransfer training iterations.')
    parser.add_argument('--pgap_iters', type=int, default=1500, help='PGap training iterations per denoiser.')
    parser.add_argument('--held_out', default='N6_01600', help='The camsim setting of the one-shot transfer.')
    parser.add_argument('--skip_one_shot', action='store_true', help='Do not train the held-out model.')
    parser.add_argument('--work', default='benchmarks/_work/noisetransfer_camsim')
    parser.add_argument('--out', default='docs/results/noisetransfer_camsim.json')
    args = parser.parse_args()
    work = osp.abspath(args.work)
    camsim = osp.join(work, 'camsim')
    if not osp.isfile(osp.join(camsim, 'camsim.json')):
        prepare_camsim(camsim)
    train_settings, test_settings = settings_of(camsim, 'train'), settings_of(camsim, 'test')
    class_file = osp.join(camsim, 'train_settings.txt')
    with open(class_file, 'w') as f:
        f.writelines(f'{name} {setting}\n' for name, setting in sorted(train_settings.items()))

    results = {'setting': {'iters': args.iters, 'pgap_recipe': dict(RECIPE, total_iter=args.pgap_iters),
                           'held_out': args.held_out, 'akld_ks': 'paired reference, seeds 100 + index'}}
    seconds = {}
    opt = nt_options(osp.join(camsim, 'train'), class_file, 'NoiseTransfer_camsim', args.iters)
    results['setting']['options'] = opt
    seconds['main'] = train_through_basicsr(work, opt['name'], opt)
    ckpt = osp.join(work, 'experiments', opt['name'], 'models', 'net_g_latest.pth')

    # paired-reference AKLD / KS on the test tiles, and the same generation of the training tiles for PGap
    fake = osp.join(work, 'fake', 'test')
    generate_paired_transfer(GeneratorNoise(ckpt, reference=osp.join(camsim, 'test', 'noisy'), param_key='params'),
                             osp.join(camsim, 'test', 'clean'), fake, 100)
    results['paired'] = scores(osp.join(camsim, 'test', 'clean'), osp.join(camsim, 'test', 'noisy'), fake, work,
                               'paired')
    train_fake = osp.join(work, 'fake', 'train')
    generate_paired_transfer(GeneratorNoise(ckpt, reference=osp.join(camsim, 'train', 'noisy'), param_key='params'),
                             osp.join(camsim, 'train', 'clean'), train_fake, 0)
    pgap_opt = camsim_pgap_options('camsim_noisetransfer', camsim, None, dict(RECIPE, total_iter=args.pgap_iters))
    pgap_opt['pgap']['source'] = {'type': 'folder', 'dataroot': train_fake}
    pgap = run_pgap(pgap_opt, root=work)
    results['paired'].update({k: pgap[k] for k in ('psnr_real_trained', 'psnr_source_trained', 'pgap')})
    print(f'paired: {results["paired"]}', flush=True)

    # synthetic families against the true process, paired reference
    results['synthetic'] = {}
    for name, noise_opt in FAMILIES.items():
        true_dir = materialise_source(noise_opt, osp.join(camsim, 'test', 'clean'), osp.join(work, 'true', name), 7)
        fake = osp.join(work, 'fake', name)
        generate_paired_transfer(GeneratorNoise(ckpt, reference=true_dir, param_key='params'),
                                 osp.join(camsim, 'test', 'clean'), fake, 100)
        results['synthetic'][name] = scores(osp.join(camsim, 'test', 'clean'), true_dir, fake, work, name)
        print(f'{name}: {results["synthetic"][name]}', flush=True)

    if not args.skip_one_shot:
        held = [n for n, s in train_settings.items() if s == args.held_out]
        kept = [n for n, s in train_settings.items() if s != args.held_out]
        pairs = link_subset(camsim, 'train', [f'{n}.png' for n in kept], osp.join(work, 'pairs_without_held_out'))
        opt = nt_options(pairs, class_file, 'NoiseTransfer_camsim_without_held_out', args.iters)
        seconds['without_held_out'] = train_through_basicsr(work, opt['name'], opt)
        ckpt = osp.join(work, 'experiments', opt['name'], 'models', 'net_g_latest.pth')
        reference = osp.join(camsim, 'train', 'noisy', f'{sorted(held)[0]}.png')  # one image of the unseen setting
        targets = sorted(f'{n}.png' for n, s in test_settings.items() if s == args.held_out)
        target_dir = link_subset(camsim, 'test', targets, osp.join(work, 'held_out_test'))
        fake = osp.join(work, 'fake', 'one_shot')  # every target from the one reference
        generate_paired_transfer(GeneratorNoise(ckpt, reference=reference, param_key='params'),
                                 osp.join(target_dir, 'clean'), fake, 100)
        real_std = float(np.std(np.concatenate([
            (cv2.imread(osp.join(target_dir, 'noisy', n)).astype(np.float32) -
             cv2.imread(osp.join(target_dir, 'clean', n)).astype(np.float32)).ravel() for n in targets])))
        awgn = materialise_source({'type': 'AWGNNoise', 'sigma': round(real_std, 2), 'clip': True},
                                  osp.join(target_dir, 'clean'), osp.join(work, 'fake', 'one_shot_awgn'), 100)
        results['one_shot'] = {
            'held_out': args.held_out, 'reference': reference, 'test_tiles': len(targets),
            'noisetransfer': scores(osp.join(target_dir, 'clean'), osp.join(target_dir, 'noisy'), fake, work,
                                    'one_shot'),
            f'awgn_matched_std_{real_std:.2f}': scores(osp.join(target_dir, 'clean'), osp.join(target_dir, 'noisy'),
                                                       awgn, work, 'one_shot_awgn')}
        print(f'one shot: {results["one_shot"]}', flush=True)
    results['setting']['train_seconds'] = seconds
    save_results(results, args.out)


if __name__ == '__main__':
    main()
