"""NoiseTransferModel and its pieces: it learns the noise of its references; the contrastive loss, the queue, the key
encoder; the CLI with generate from one reference, exact resume, DDP, and bad input."""
import cv2
import glob
import numpy as np
import os
import pytest
import torch
from basicsr.utils import img2tensor, tensor2img
from conftest import (apply_overrides, assert_gan_resume_is_bit_exact, built_for_training, keyed_dataset_options,
                      preflight_error, run_cli, smooth_image, straight_and_resumed_runs, torchrun_two_gloo_processes,
                      train_through_cli, validate_twice, write_png)
from os import path as osp
from torch.utils.data import DataLoader

from basicsr_noise.compat import SampleIndex
from basicsr_noise.data.synthetic_noise_dataset import NoiseReferenceDataset, NoiseReferenceMixDataset
from basicsr_noise.losses.noisetransfer_loss import NoiseTransferBlurL1Loss, NoiseTransferInfoNCELoss
from basicsr_noise.noise import GeneratorNoise, build_noise
from basicsr_noise.utils.errors import InputError

# the "real" noise: signal-dependent, as a camera's
REAL_NOISE = {'type': 'HeteroscedasticGaussianNoise', 'a': 4e-3, 'b': 1e-4}
SETTINGS = [('S6', '00100'), ('S6', '00100'), ('GP', '00800'), ('GP', '00800'), ('N6', '00400'), ('N6', '00400')]


def _to_tensor(img):
    return img2tensor(img.astype(np.float32) / 255., bgr2rgb=True)[None]


@pytest.fixture(scope='module')
def triples(tmp_path_factory):
    """Six 48x48 real noisy / clean pairs with SIDD scene names (three ISO classes) and three 40x40 test pairs."""
    root = tmp_path_factory.mktemp('noisetransfer_data')
    rng, noise = np.random.default_rng(0), build_noise(REAL_NOISE)
    for split, settings, size in (('train', SETTINGS, 48), ('test', SETTINGS[::2], 40)):
        for i, (camera, iso) in enumerate(settings):
            name = f'{i + 10 * (split == "test"):04d}_001_{camera}_{iso}_00060_3200_L.png'
            clean = smooth_image(rng, size, size)
            noisy = noise(_to_tensor(clean), torch.Generator().manual_seed(i + 50 * (split == 'test'))).noisy
            write_png(str(root / split / 'clean' / name), clean)
            write_png(str(root / split / 'noisy' / name), tensor2img(noisy.clamp(0, 1)))
    return root


def nt_options(data, **overrides):
    """A tiny NoiseTransfer run on CPU (width 8, 32x32 patches): the real branch with the release's augmentations
    and a synthetic Gaussian branch, mixed."""
    root = str(data)
    disk = {'type': 'disk'}
    synthetic = {'dataroot_gt': f'{root}/train/clean', 'io_backend': disk, 'gt_size': 32, 'use_hflip': True,
                 'use_rot': True, 'noise_opt': {'type': 'AWGNNoise', 'sigma': [0, 70], 'clip': True}}
    real = {'dataroot_lq': f'{root}/train/noisy', 'dataroot_gt': f'{root}/train/clean', 'io_backend': disk,
            'gt_size': 32, 'use_hflip': True, 'use_rot': True, 'alpha_prob': 0.5, 'cutmix_prob': 0.5, 'dither': True}
    opt = {
        'name': 'nt_tiny', 'model_type': 'NoiseTransferModel', 'scale': 1, 'num_gpu': 0, 'manual_seed': 0,
        'noisetransfer': {'queue_size': 32},
        'datasets': {
            'train': {'name': 'train', 'type': 'NoiseReferenceMixDataset', 'ratios': [0.3, 0.7], 'length': 16,
                      'branches': [synthetic, real], 'num_worker_per_gpu': 1, 'batch_size_per_gpu': 2,
                      'dataset_enlarge_ratio': 1, 'prefetch_mode': None},
            'val': {'name': 'test', 'type': 'NoisyImageDataset', 'dataroot_lq': f'{root}/test/noisy',
                    'dataroot_gt': f'{root}/test/clean', 'io_backend': disk},
        },
        'network_g': {'type': 'NoiseTransferUNet', 'num_feat': 8},
        'network_d': {'type': 'NoiseTransferContraE', 'num_feat': 8},
        'path': {'pretrain_network_g': None, 'strict_load_g': True, 'resume_state': None},
        'train': {
            'ema_decay': 0.9,
            'optim_g': {'type': 'Adam', 'lr': 1e-3, 'betas': [0.5, 0.99], 'weight_decay': 1e-7},
            'optim_d': {'type': 'Adam', 'lr': 1e-3, 'betas': [0.5, 0.99], 'weight_decay': 1e-7},
            'scheduler': {'type': 'ConstantLR', 'factor': 1.0, 'total_iters': 0},
            'total_iter': 20, 'warmup_iter': -1,
            'gan_opt': {'type': 'GANLoss', 'gan_type': 'vanilla', 'loss_weight': 1.0},
            'feature_match_d_opt': {'type': 'L1Loss', 'loss_weight': 100.0},
            'feature_match_e_opt': {'type': 'L1Loss', 'loss_weight': 100.0},
            'consistency_opt': {'type': 'NoiseTransferBlurL1Loss', 'kernel_size': 21, 'loss_weight': 100.0},
            'contrastive_opt': {'type': 'NoiseTransferInfoNCELoss', 'temperature': 0.1},
        },
        'val': {'val_freq': 10, 'save_img': False,
                'metrics': {'akld': {'type': 'calculate_akld', 'better': 'lower'},
                            'ks': {'type': 'calculate_ks', 'better': 'lower'}}},
        'logger': {'print_freq': 5, 'save_checkpoint_freq': 10, 'use_tb_logger': False},
        'dist_params': {'backend': 'gloo', 'port': 29500},
    }
    return apply_overrides(opt, overrides)


# ----------------------------------------------------------------------------------------------- losses
def test_the_contrastive_loss_against_hand_computed_values():
    s = 2**-0.5
    query = torch.tensor([[1., 0.], [0., 1.]])
    keys = torch.tensor([[1., 0.], [s, s]])
    queue = torch.tensor([[-1., 0.], [0., -1.], [s, -s]])
    loss, accuracy = NoiseTransferInfoNCELoss(temperature=0.5)(query, keys, queue)
    # row 0: positive 1 -> 2; others (k1, queue) s, -1, 0, s. Row 1: positive s; others 0, 0, -1, -s (all / 0.5)
    row0 = -(2 - np.log(np.exp(2) + np.exp(2 * s) + np.exp(-2) + np.exp(0) + np.exp(2 * s)))
    row1 = -(2 * s - np.log(np.exp(0) + np.exp(2 * s) + np.exp(0) + np.exp(-2) + np.exp(-2 * s)))
    assert loss.item() == pytest.approx((row0 + row1) / 2, rel=1e-6)
    assert accuracy.item() == 1.0
    swapped, accuracy = NoiseTransferInfoNCELoss(temperature=0.5)(query, keys.flip(0), queue)
    assert swapped > loss and accuracy.item() == 0.0


def test_the_consistency_term_sees_the_colour_not_the_noise():
    torch.manual_seed(0)
    clean = torch.rand(2, 3, 48, 48) * 0.2 + 0.4
    noisy_a = clean + 0.1 * torch.randn_like(clean)
    noisy_b = clean + 0.1 * torch.randn_like(clean)
    loss = NoiseTransferBlurL1Loss()
    assert loss(noisy_a, noisy_b) < 0.1 * (noisy_a - noisy_b).abs().mean()  # other noise of the same kind: small
    assert loss(noisy_a, noisy_b + 0.05) > 0.04  # a colour / mean shift is seen in full
    with pytest.raises(ValueError, match='larger than 10 pixels'):
        loss(torch.rand(1, 3, 8, 8), torch.rand(1, 3, 8, 8))


# ----------------------------------------------------------------------------------------------- the model
def _batch(data, size=4):
    opt = nt_options(data)['datasets']['train']
    loader = DataLoader(
        NoiseReferenceMixDataset(dict(opt, phase='train')),
        batch_size=size,
        generator=torch.Generator().manual_seed(0),
        shuffle=True)
    return next(iter(loader))


def _objectives(model):
    """The G objective and the E_q objective on the fed batch, with the model's networks as they are now."""
    with torch.no_grad():
        model.noise_generator.manual_seed(5)  # the same noise maps for every evaluation
        model.generate()
        g_total = sum(v for k, v in model.g_losses().items() if not k.startswith('out_'))
        d = model.d_losses()
        d_total = (d['real'] + d['fake']) / 2 + d['nce']
    return g_total.item(), d_total.item()


def test_each_step_lowers_its_own_objective_and_touches_only_its_network(triples):
    """On one batch: the G step lowers the G objective and leaves E_q alone; the E_q step then lowers the E_q
    objective (InfoNCE plus the discriminator's BCE) and leaves G alone."""
    torch.manual_seed(0)
    lr = {'train.optim_g.lr': 1e-4, 'train.optim_d.lr': 1e-4}
    model = built_for_training(nt_options(triples, **{'train.ema_decay': 0, **lr}))
    model.feed_data(_batch(triples))
    g_before, d_before = _objectives(model)
    q_params = [p.clone() for p in model.net_d.parameters()]
    model.noise_generator.manual_seed(5)
    model.generate()
    model.net_d.requires_grad_(False)
    model.g_step(1, {})
    model.net_d.requires_grad_(True)
    assert all(torch.equal(a, b) for a, b in zip(q_params, model.net_d.parameters()))
    g_after, _ = _objectives(model)
    assert g_after < g_before, (g_before, g_after)
    g_params = [p.clone() for p in model.net_g.parameters()]
    _, d_mid = _objectives(model)
    model.noise_generator.manual_seed(5)
    model.generate()
    model.d_step(1, {})
    assert all(torch.equal(a, b) for a, b in zip(g_params, model.net_g.parameters()))
    _, d_after = _objectives(model)
    assert d_after < d_mid, (d_before, d_mid, d_after)


def test_the_key_encoder_gets_no_gradient_and_follows_the_ema_of_the_query_encoder(triples):
    model = built_for_training(nt_options(triples, **{'noisetransfer.key_momentum': 0.9}))
    assert not any(p.requires_grad for p in model.net_k.parameters())
    batch = _batch(triples, 2)
    k_before = [p.clone() for p in model.net_k.parameters()]
    model.feed_data(batch)
    model.optimize_parameters(1)
    assert all(p.grad is None for p in model.net_k.parameters())
    q_after = list(model.net_d.parameters())
    assert any(not torch.equal(q, k) for q, k in zip(q_after, k_before))  # E_q was stepped
    for k_old, q, k in zip(k_before, q_after, model.net_k.parameters()):
        torch.testing.assert_close(k, 0.9 * k_old + 0.1 * q, rtol=1e-6, atol=1e-7)
    assert {
        'l_g_gan', 'l_g_fm_d', 'l_g_cons', 'l_g_nce', 'l_g_fm_e', 'l_d_real', 'l_d_fake', 'l_d_nce', 'out_d_nce_acc',
        'out_g_nce_acc'
    } <= set(model.log_dict)


def _g_terms_at(triples, current_iter, warmup):
    torch.manual_seed(0)
    model = built_for_training(nt_options(triples, **{'noisetransfer.l1_warmup_iter': warmup}))
    model.feed_data(_batch(triples, 2))
    model.optimize_parameters(current_iter)
    return model.log_dict


def test_the_l1_warmup_scales_only_the_three_l1_terms_and_ends_at_full_weight(triples):
    off, ramp, done = (_g_terms_at(triples, it, w) for it, w in ((4, 0), (4, 10), (12, 10)))
    for name in ('l_g_fm_d', 'l_g_cons', 'l_g_fm_e'):
        assert ramp[name] == pytest.approx(0.4 * off[name], rel=1e-5)
        assert done[name] == pytest.approx(off[name], rel=1e-5)
    for name in ('l_g_gan', 'l_g_nce'):
        assert ramp[name] == pytest.approx(off[name], rel=1e-5)
    assert ramp['out_g_l1_scale'] == pytest.approx(0.4) and 'out_g_l1_scale' not in off


def test_bad_input_a_negative_l1_warmup(triples):
    with pytest.raises(ValueError, match='noisetransfer.l1_warmup_iter'):
        built_for_training(nt_options(triples, **{'noisetransfer.l1_warmup_iter': -1}))


def test_the_batch_keys_not_the_dataset_class_decide_in_the_preflight(triples):
    from basicsr_noise.models.noisetransfer_model import NoiseTransferModel
    from basicsr_noise.utils.option_check import check_datasets
    from basicsr_noise.utils.options import OptionError

    def options(keys):
        return nt_options(triples, **{'datasets.train': keyed_dataset_options(keys)})

    NoiseTransferModel.check_options(options(['gt', 'lq', 'ref']))
    check_datasets(options(['gt', 'lq', 'ref']), 'good.yml')
    with pytest.raises(OptionError, match=r'has no ref\. NoiseTransferModel trains on \(clean, noisy, same-noise'):
        check_datasets(options(['gt', 'lq']), 'bad.yml')


def test_test_honours_val_tile_size(triples):
    """Untiled, the test is ``clamp(c + G(c, E_k(y)))``; with ``val.tile_size`` G sees tiles (one key for all)."""
    model = built_for_training(nt_options(triples))
    clean = torch.rand(2, 3, 40, 40, generator=torch.Generator().manual_seed(2))
    noisy = (clean + 0.1 * torch.rand(clean.shape, generator=torch.Generator().manual_seed(3))).clamp(0, 1)
    sizes = []
    net_g = model.test_network()
    hook = net_g.register_forward_pre_hook(lambda module, inputs: sizes.append(tuple(inputs[0].shape)))
    outputs = []
    for tile in (None, 24):
        model.opt['val'].update(tile_size=tile, tile_overlap=8, tile_batch=2)
        model.val_generator = torch.Generator().manual_seed(0)
        model.feed_val_data({'gt': clean, 'lq': noisy})
        model.test()
        outputs.append(model.output.clone())
    hook.remove()
    assert sizes[0] == (2, 3, 40, 40) and set(sizes[1:]) == {(4, 3, 24, 24)}  # 2 tiles x 2 images per call
    net_g.eval()
    model.net_k.eval()
    with torch.no_grad():
        expected = (clean + net_g(clean, model.net_k(noisy)[1], torch.Generator().manual_seed(0))).clamp(0, 1)
    assert torch.equal(outputs[0], expected)
    assert outputs[1].shape == clean.shape and not torch.equal(outputs[1], outputs[0])


def test_the_queue_is_fifo_and_wraps_as_the_release(triples):
    model = built_for_training(nt_options(triples, **{'noisetransfer.queue_size': 5}))
    first, second = torch.eye(8)[:3], torch.eye(8)[3:6]
    model.queue = torch.zeros(5, 8)
    model.enqueue(first)
    model.enqueue(second)  # only two fit before the end: the third is dropped and the pointer wraps to 0
    assert model.queue_ptr == 0 and torch.equal(model.queue, torch.cat([first, second[:2]]))
    model.enqueue(second)
    assert model.queue_ptr == 3 and torch.equal(model.queue[:3], second)


def test_validation_uses_the_paired_reference_and_is_seeded(triples):
    first, second = validate_twice(built_for_training(nt_options(triples)), nt_options(triples)['datasets']['val'])
    assert set(first) == {'akld', 'ks'} and first == second and first['akld'] > 0


# ----------------------------------------------------------------------------------------------- CLI
def test_a_cli_run_then_generate_from_one_reference_file_and_from_a_folder(tmp_path, triples):
    exp = train_through_cli(
        tmp_path / 'run',
        nt_options(
            triples, **{
                'train.total_iter': 4,
                'val.val_freq': 4,
                'logger.print_freq': 1,
                'logger.save_checkpoint_freq': 4
            }))
    log = open(sorted(glob.glob(str(exp / 'train_*.log')))[-1]).read()
    assert 'l_g_nce' in log and 'l_d_nce' in log and '# akld:' in log
    ckpt = exp / 'models' / 'net_g_4.pth'
    meta = torch.load(ckpt, weights_only=True)['meta']
    assert meta['network_g']['type'] == 'NoiseTransferUNet'
    assert meta['network_key_encoder']['type'] == 'NoiseTransferContraE'
    clean_dir, refs = triples / 'test' / 'clean', triples / 'train' / 'noisy'
    one_ref = str(refs / sorted(os.listdir(refs))[0])
    outs = {}
    for run, ref in (('file', one_ref), ('file_again', one_ref), ('folder', str(refs))):
        out = tmp_path / run
        args = ['generate', '--ckpt', str(ckpt), '--input', str(clean_dir), '--ref', ref, '--output', str(out)]
        result = run_cli(args + ['--device', 'cpu', '--seed', '3'], cwd=tmp_path)
        assert result.returncode == 0, result.stderr[-2000:]
        outs[run] = out
    names = sorted(os.listdir(clean_dir))
    for name in names:
        a, b = (cv2.imread(str(outs[run] / name)) for run in ('file', 'file_again'))
        assert np.array_equal(a, b) and not np.array_equal(a, cv2.imread(str(clean_dir / name)))
    noise = GeneratorNoise(str(ckpt), reference=one_ref)  # the same, as a noise model
    made = noise(_to_tensor(cv2.imread(str(clean_dir / names[0]))), torch.Generator().manual_seed(3)).noisy
    assert np.array_equal(tensor2img(made.clamp(0, 1)), cv2.imread(str(outs['file'] / names[0])))
    folder = GeneratorNoise(str(ckpt), reference=str(refs))
    drawn = folder(torch.rand(16, 3, 16, 16), torch.Generator().manual_seed(0)).params['reference']
    assert len(folder.references) == 6 and len(set(drawn.tolist())) > 1  # a reference drawn per image


def test_resume_is_bit_exact_with_the_queue_and_the_key_encoder(tmp_path, triples):
    straight, resumed = straight_and_resumed_runs(tmp_path, lambda: nt_options(triples))
    assert_gan_resume_is_bit_exact(straight, resumed, 20)
    a, b = (
        torch.load(run / 'training_states' / '20.state', weights_only=False)['extra'] for run in (straight, resumed))
    assert a['queue_ptr'] == b['queue_ptr'] == (20 * 2) % 32
    assert torch.equal(a['queue'], b['queue'])
    assert all(torch.equal(a['key_encoder'][k], b['key_encoder'][k]) for k in a['key_encoder'])
    ckpt = torch.load(resumed / 'models' / 'net_g_20.pth', weights_only=True)
    assert all(torch.equal(ckpt['params_key_encoder'][k], a['key_encoder'][k]) for k in a['key_encoder'])


def test_ddp_with_two_gloo_processes_enqueues_both_ranks_keys(tmp_path, triples):
    exp = train_through_cli(
        tmp_path / 'ddp',
        nt_options(triples, **{
            'train.total_iter': 3,
            'logger.save_checkpoint_freq': 3,
            'val.val_freq': 3
        }),
        '--launcher',
        'pytorch',
        prefix=torchrun_two_gloo_processes())
    log = open(sorted(glob.glob(str(exp / 'train_*.log')))[-1]).read()
    assert 'World size (gpu number): 2' in log and 'DistributedDataParallel - NoiseTransferContraE' in log
    extra = torch.load(exp / 'training_states' / '3.state', weights_only=False)['extra']
    assert extra['queue_ptr'] == 3 * 2 * 2  # 3 iterations x 2 ranks x batch 2
    _, keys = embed_with_saved_key_encoder(extra['key_encoder'])
    assert torch.allclose(extra['queue'][:12].norm(dim=1), torch.ones(12))
    assert keys.shape == (1, 128)


def embed_with_saved_key_encoder(state):
    from basicsr_noise.archs.noisetransfer_arch import NoiseTransferContraE
    net = NoiseTransferContraE(num_feat=8).eval()
    net.load_state_dict(state)
    with torch.no_grad():
        return net(torch.rand(1, 3, 16, 16))


# ----------------------------------------------------------------------------------------------- bad input
@pytest.fixture(scope='module')
def generator_ckpt(tmp_path_factory, triples):
    model = built_for_training(nt_options(triples))
    path = tmp_path_factory.mktemp('nt_ckpt') / 'g.pth'
    torch.save(
        {
            'params': model.net_g.state_dict(),
            'params_key_encoder': model.net_k.state_dict(),
            'meta': model.checkpoint_meta('net_g')
        }, path)
    return str(path)


def test_bad_input_a_reference_smaller_than_8x8(tmp_path, generator_ckpt):
    write_png(str(tmp_path / 'tiny.png'), np.zeros((6, 20, 3), np.uint8))
    with pytest.raises(InputError, match=r'tiny.png is 6x20: a reference must be at least 8x8'):
        GeneratorNoise(generator_ckpt, reference=str(tmp_path / 'tiny.png'))


def test_bad_input_a_grey_reference_for_the_colour_generator(tmp_path, generator_ckpt):
    cv2.imwrite(str(tmp_path / 'grey.png'), np.full((16, 16), 128, np.uint8))
    with pytest.raises(InputError, match='grey.png is a grey image, but the generator makes 3-channel noise'):
        GeneratorNoise(generator_ckpt, reference=str(tmp_path / 'grey.png'))
    args = ['generate', '--ckpt', generator_ckpt, '--input', str(tmp_path), '--ref', str(tmp_path / 'grey.png')]
    result = run_cli(args + ['--output', str(tmp_path / 'out')], cwd=tmp_path)
    assert result.returncode == 2 and 'grey image' in result.stderr


def test_bad_input_no_reference_for_a_reference_generator(generator_ckpt):
    with pytest.raises(InputError, match='reference-conditioned generator'):
        GeneratorNoise(generator_ckpt)


def test_bad_input_sidd_names_without_an_iso_field(tmp_path, triples):
    for kind in ('clean', 'noisy'):
        write_png(str(tmp_path / kind / 'scene_without_iso.png'), np.zeros((40, 40, 3), np.uint8))
    with pytest.raises(InputError, match='cannot read the camera and ISO from the SIDD name scene_without_iso.png'):
        NoiseReferenceDataset({
            'name': 'sidd',
            'dataroot_gt': str(tmp_path / 'clean'),
            'dataroot_lq': str(tmp_path / 'noisy'),
            'gt_size': 32
        })
    opt = nt_options(triples)
    opt['datasets']['train']['branches'][1].update(
        dataroot_gt=str(tmp_path / 'clean'), dataroot_lq=str(tmp_path / 'noisy'))
    assert 'scene_without_iso.png' in preflight_error(tmp_path, opt)


def test_bad_input_a_dataset_without_references(tmp_path, triples):
    opt = nt_options(triples)
    opt['datasets']['train'] = dict(opt['datasets']['val'], name='pairs')
    err = preflight_error(tmp_path, opt)
    assert 'NoiseTransferModel trains on (clean, noisy, same-noise reference) triples' in err


def test_the_reference_dataset_groups_by_iso_and_by_a_class_file(tmp_path, triples):
    root = triples / 'train'
    dataset = NoiseReferenceDataset({
        'name': 'r',
        'phase': 'train',
        'dataroot_gt': str(root / 'clean'),
        'dataroot_lq': str(root / 'noisy'),
        'gt_size': 32
    })
    assert sorted(len(v) for v in dataset.classes.values()) == [2, 2, 2]
    names = sorted(os.listdir(root / 'clean'))
    (tmp_path / 'classes.txt').write_text(''.join(f'{osp.splitext(n)[0]} {"ab"[i < 3]}\n' for i, n in enumerate(names)))
    dataset = NoiseReferenceDataset({
        'name': 'r',
        'phase': 'train',
        'dataroot_gt': str(root / 'clean'),
        'dataroot_lq': str(root / 'noisy'),
        'gt_size': 32,
        'reference_class_file': str(tmp_path / 'classes.txt')
    })
    assert {k: sorted(v) for k, v in dataset.classes.items()} == {'b': names[:3], 'a': names[3:]}
    for draw in range(6):
        item = dataset[SampleIndex(draw, draw)]
        own, ref = osp.basename(item['lq_path']), osp.basename(item['ref_path'])
        assert own != ref and (names.index(own) < 3) == (names.index(ref) < 3)
