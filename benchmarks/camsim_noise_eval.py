"""Noise sources scored on the simulated camera benchmark: AKLD, KS and PGap against a known true noise process.

Sources: the true camera model of the benchmark (``CameraNoise`` with its three SIDD phone/ISO settings), the same
pipeline with a wrong, low ISO (``GP_00100``), heteroscedastic Gaussian noise with the NLF fitted on the training
pairs (``fit_nlf``, channels averaged), and AWGN with the standard deviation of the real training noise. AKLD and
KS: one generated image per test tile (seeded), against the tile's real noisy version. PGap: ``basicsr-noise
pgap``'s protocol with a CPU-sized recipe (stated in the JSON; the default recipe is DnCNN-17 for 20k iterations).

    python benchmarks/camsim_noise_eval.py --iters 1500 --out docs/results/camsim_noise_eval.json
"""
import basicsr_noise  # noqa: F401  # isort: skip  (first: basicsr 1.4.2 needs its shims)
import argparse
import cv2
import numpy as np
import os
import torch
from benchmark_io import camsim_pgap_options, save_results
from os import path as osp

from basicsr_noise.evaluation.camsim import camsim_noise_opt, prepare_camsim
from basicsr_noise.evaluation.eval_noise import evaluate_noise, noise_panel
from basicsr_noise.evaluation.pgap import materialise_source, run_pgap
from basicsr_noise.noise.nlf import fit_nlf


def _read_rgb_folder(folder):
    names = sorted(os.listdir(folder))
    imgs = [cv2.imread(osp.join(folder, n))[..., ::-1] for n in names]
    return names, torch.from_numpy(np.stack(imgs).astype(np.float32) / 255.).permute(0, 3, 1, 2)


def sources(camsim):
    """The noise sources compared, as noise options (two fitted on the paired training tiles)."""
    _, noisy = _read_rgb_folder(osp.join(camsim, 'train', 'noisy'))
    _, clean = _read_rgb_folder(osp.join(camsim, 'train', 'clean'))
    a, b = fit_nlf(noisy, clean)
    std = float((noisy - clean).std()) * 255.
    return {
        'camera_true': camsim_noise_opt(),
        'camera_wrong_iso': dict(camsim_noise_opt(['GP_00100'])),
        'hetero_fitted_nlf': {'type': 'HeteroscedasticGaussianNoise', 'a': float(a.clamp_min(0).mean()),
                              'b': float(b.clamp_min(1e-8).mean())},
        'awgn_matched_std': {'type': 'AWGNNoise', 'sigma': round(std, 2)},
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--iters', type=int, default=1500, help='PGap training iterations per denoiser.')
    parser.add_argument('--work', default='benchmarks/_work/camsim_noise_eval')
    parser.add_argument('--out', default='docs/results/camsim_noise_eval.json')
    parser.add_argument('--figure', default='docs/figures/camsim_eval_panels.jpg')
    args = parser.parse_args()
    work = osp.abspath(args.work)
    camsim = osp.join(work, 'camsim')
    if not osp.isfile(osp.join(camsim, 'camsim.json')):
        prepare_camsim(camsim)
    recipe = {'total_iter': args.iters, 'batch_size': 16, 'patch_size': 48, 'num_worker': 1,
              'network_g': {'type': 'R2RDnCNN', 'num_in_ch': 3, 'num_feat': 48, 'num_layers': 10}}
    results = {'setting': {'camsim': 'basicsr-noise prepare camsim (defaults)', 'pgap_recipe': recipe,
                           'akld_ks': 'one generated image per test tile, seeds 100 + index'}}
    panels = []
    for name, noise_opt in sources(camsim).items():
        fake = osp.join(work, 'generated', name)
        materialise_source(noise_opt, osp.join(camsim, 'test', 'clean'), fake, seed=100)
        report = evaluate_noise(osp.join(camsim, 'test', 'clean'), osp.join(camsim, 'test', 'noisy'), fake,
                                osp.join(work, 'eval', name), figures=False)
        opt = camsim_pgap_options(f'camsim_{name}', camsim, noise_opt, recipe)
        pgap = run_pgap(opt, root=work)
        results[name] = {'noise_opt': noise_opt, 'akld': report['mean']['akld'], 'ks': report['mean']['ks'],
                         'fake_std': report['mean']['fake_std'], 'real_std': report['mean']['real_std'],
                         'psnr_real_trained': pgap['psnr_real_trained'],
                         'psnr_source_trained': pgap['psnr_source_trained'], 'pgap': pgap['pgap']}
        tile = 'chelsea_r1c1.png'
        # 128x128 tiles shown at twice their size (nearest neighbour keeps the grain) so that labels fit
        clean, real, gen = (cv2.resize(cv2.imread(osp.join(d, tile)), None, fx=2, fy=2,
                                       interpolation=cv2.INTER_NEAREST)
                            for d in (osp.join(camsim, 'test', 'clean'), osp.join(camsim, 'test', 'noisy'), fake))
        panel = noise_panel(clean, real, gen, report['images'][osp.splitext(tile)[0]])
        title = np.full((24, panel.shape[1], 3), 255, np.uint8)
        cv2.putText(title, f'source: {name}  (PGap {pgap["pgap"]:.2f} dB)', (6, 17), cv2.FONT_HERSHEY_SIMPLEX, 0.55,
                    (0, 0, 0), 1, cv2.LINE_AA)
        panels.append(np.concatenate([title, panel], 0))
    os.makedirs(osp.dirname(osp.abspath(args.figure)), exist_ok=True)
    cv2.imwrite(args.figure, np.concatenate(panels, 0), [cv2.IMWRITE_JPEG_QUALITY, 90])
    save_results(results, args.out)


if __name__ == '__main__':
    main()
