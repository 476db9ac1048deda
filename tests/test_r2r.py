import copy
import pytest
import torch
from basicsr.models import build_model
from conftest import r2r_options

from basicsr_noise.archs.dncnn_arch import R2RDnCNN
from basicsr_noise.models.r2r_model import recorrupt
from basicsr_noise.noise import noise_std_map


def _noise_stats(alpha, std_fn, n=2**20, seed=0):
    """Noises of R2R input and target for y = x + n, with x a ramp in [0.1, 0.9]."""
    g = torch.Generator().manual_seed(seed)
    x = torch.linspace(0.1, 0.9, n, dtype=torch.float64).reshape(1, 1, 1024, -1)
    std = std_fn(x)
    y = x + torch.randn(x.shape, generator=g, dtype=torch.float64) * std
    inp, tgt = recorrupt(y, std_fn(x), alpha, g)
    return (inp - x) / std, (tgt - x) / std  # normalised by the true per-pixel std


@pytest.mark.parametrize('alpha', [0.5, 2.0])
@pytest.mark.parametrize('kind', ['awgn', 'nlf'])
def test_recorruption_noise_is_uncorrelated_with_the_expected_variances(alpha, kind):
    if kind == 'awgn':
        def std_fn(x):
            return noise_std_map(x, sigma=25 / 255.)
    else:
        def std_fn(x):
            return noise_std_map(x, nlf=(0.01, 0.0004))
    n_in, n_tgt = _noise_stats(alpha, std_fn)
    assert n_in.var().item() == pytest.approx(1 + alpha**2, rel=0.02)
    assert n_tgt.var().item() == pytest.approx(1 + 1 / alpha**2, rel=0.02)
    corr = ((n_in - n_in.mean()) * (n_tgt - n_tgt.mean())).mean() / (n_in.std() * n_tgt.std())
    assert abs(corr.item()) < 0.005


def test_recorruption_with_a_wrong_covariance_is_correlated():
    # the test above can fail: with z drawn at half the true sigma the input and target noises correlate
    g = torch.Generator().manual_seed(1)
    x = torch.full((1, 1, 512, 512), 0.5, dtype=torch.float64)
    sigma = 25 / 255.
    y = x + torch.randn(x.shape, generator=g, dtype=torch.float64) * sigma
    inp, tgt = recorrupt(y, torch.tensor(sigma / 2, dtype=torch.float64), 0.5, g)
    corr = torch.corrcoef(torch.stack([(inp - x).flatten(), (tgt - x).flatten()]))[0, 1]
    assert corr.item() > 0.3


def test_nlf_std_is_evaluated_per_pixel_and_channel():
    x = torch.tensor([0.0, 0.25, 1.0]).reshape(1, 1, 1, 3).repeat(1, 2, 1, 1)
    std = noise_std_map(x, nlf=([0.04, 0.0], [0.01, 0.09]))
    expected_c0 = torch.sqrt(0.04 * x[0, 0] + 0.01)
    torch.testing.assert_close(std[0, 0], expected_c0)
    torch.testing.assert_close(std[0, 1], torch.full_like(x[0, 1], 0.3))
    with pytest.raises(ValueError, match='sigma'):
        noise_std_map(x, sigma=torch.ones(5))


@pytest.mark.parametrize('kwargs, expected', [
    (dict(num_in_ch=1, num_layers=17), 556_032),
    (dict(num_in_ch=3, num_layers=20, first_bias=True, bn_eps=1e-4, bn_momentum=0.95), 669_376),
])
def test_dncnn_parameter_counts_match_the_spec(kwargs, expected):
    net = R2RDnCNN(**kwargs)
    assert sum(p.numel() for p in net.parameters()) == expected


def test_dncnn_is_residual_and_starts_near_identity():
    torch.manual_seed(0)
    net = R2RDnCNN(num_in_ch=1, num_layers=17).eval()
    bn_scales = torch.cat([m.weight for m in net.modules() if isinstance(m, torch.nn.BatchNorm2d)])
    assert bn_scales.abs().max() <= 0.025
    x = torch.rand(1, 1, 24, 24)
    with torch.no_grad():
        torch.testing.assert_close(net(x), x - net.body(x))
        # the clamped BatchNorm scales make the initial residual small
        assert (net(x) - x).abs().mean() < 0.2 * x.mean()


def _test_model_opt(tiny_data, **overrides):
    opt = r2r_options(tiny_data, **overrides)
    opt.update(is_train=True, dist=False, rank=0, world_size=1, auto_resume=False)
    for phase, dataset_opt in opt['datasets'].items():
        dataset_opt['phase'] = phase
    opt['path'].update(models='/nonexistent', training_states='/nonexistent', visualization='/nonexistent')
    return opt


def test_model_feed_data_recorrupts_on_the_device_reproducibly(tiny_data):
    opt = _test_model_opt(tiny_data)
    y = torch.rand(2, 3, 64, 64)
    models = [build_model(copy.deepcopy(opt)) for _ in range(2)]
    for model in models:
        model.feed_data({'lq': y})
    torch.testing.assert_close(models[0].lq, models[1].lq)  # same seed, same draw
    z_in = (models[0].lq - y) / 0.5
    z_tgt = (y - models[0].gt) * 0.5
    torch.testing.assert_close(z_in, z_tgt)  # one z: input y + a z, target y - z / a
    assert z_in.std().item() == pytest.approx(25 / 255., rel=0.03)


def test_model_uses_the_noise_level_given_by_the_dataset(tiny_data):
    opt = _test_model_opt(tiny_data, **{'r2r.noise': {'type': 'dataset'}})
    model = build_model(opt)
    y = torch.zeros(2, 3, 128, 128)
    model.feed_data({'lq': y, 'noise_std': torch.tensor([[0.1, 0.1, 0.1], [0.01, 0.02, 0.03]])})
    z = (model.lq - y) / 0.5
    assert z[0].std().item() == pytest.approx(0.1, rel=0.03)
    assert [round(z[1, c].std().item(), 3) for c in range(3)] == pytest.approx([0.01, 0.02, 0.03], rel=0.05)
    with pytest.raises(KeyError, match='noise_std'):
        model.feed_data({'lq': y})


def test_test_time_averaging_reduces_to_a_single_pass_without_noise(tiny_data):
    opt = _test_model_opt(tiny_data, **{'r2r.test_samples': 4, 'r2r.noise.sigma': 0})
    model = build_model(opt)
    y = torch.rand(1, 3, 20, 20)
    model.feed_val_data({'lq': y})
    model.test()
    expected = model.inference(y).clamp(0, 1)
    torch.testing.assert_close(model.output, expected)


def test_test_time_averaging_is_deterministic_per_validation(tiny_data):
    opt = _test_model_opt(tiny_data, **{'r2r.test_samples': 3})
    model = build_model(opt)
    y = torch.rand(1, 3, 20, 20)
    outputs = []
    for _ in range(2):
        model.val_generator.manual_seed(model.val_seed)
        model.feed_val_data({'lq': y})
        model.test()
        outputs.append(model.output)
    torch.testing.assert_close(outputs[0], outputs[1])
    model.feed_val_data({'lq': y})
    model.test()  # generator not reset: a different draw
    assert not torch.equal(model.output, outputs[0])


def test_ema_copies_batchnorm_buffers(tiny_data):
    model = build_model(_test_model_opt(tiny_data))
    model.net_g.train()
    with torch.no_grad():
        model.net_g(torch.rand(4, 3, 16, 16) * 3)  # moves the BatchNorm running statistics
    model.model_ema(decay=0.9)
    for (name, buf), (_, ema_buf) in zip(model.net_g.named_buffers(), model.net_g_ema.named_buffers()):
        torch.testing.assert_close(ema_buf, buf, msg=name)


def test_any_torch_optimizer_and_scheduler(tiny_data):
    model = build_model(
        _test_model_opt(
            tiny_data, **{
                'train.optim_g': {'type': 'AdamW', 'lr': 1e-3, 'weight_decay': 0.01},
                'train.scheduler': {'type': 'StepLR', 'step_size': 5}
            }))
    assert isinstance(model.optimizers[0], torch.optim.AdamW)
    assert isinstance(model.schedulers[0], torch.optim.lr_scheduler.StepLR)
    with pytest.raises(ValueError, match='Adamm'):
        build_model(_test_model_opt(tiny_data, **{'train.optim_g': {'type': 'Adamm', 'lr': 1e-3}}))


def test_validation_without_ground_truth_skips_reference_metrics(tiny_data, caplog):
    from basicsr.data import build_dataloader

    from basicsr_noise.data.noisy_image_dataset import NoisyImageDataset
    opt = _test_model_opt(tiny_data)
    model = build_model(opt)
    model.feed_data({'lq': torch.rand(2, 3, 16, 16)})  # a training step leaves its target in model.gt
    model.optimize_parameters(1)
    val_opt = dict(opt['datasets']['val'], phase='val', dataroot_gt=None)
    loader = build_dataloader(NoisyImageDataset(val_opt), val_opt)
    model.validation(loader, current_iter=1, tb_logger=None, save_img=False)
    assert model.metric_results == {}
    with_gt = dict(opt['datasets']['val'], phase='val')
    model.validation(build_dataloader(NoisyImageDataset(with_gt), with_gt), 1, None, False)
    assert 10 < model.metric_results['psnr'] < 60


def test_amp_runs_the_forward_in_low_precision_and_keeps_the_scaler_in_the_state(tiny_data, tmp_path):
    opt = _test_model_opt(tiny_data, **{'train.use_amp': True})
    opt['path']['training_states'] = str(tmp_path)
    model = build_model(opt)
    dtypes = []
    model.net_g.body[0].register_forward_hook(lambda m, i, o: dtypes.append(o.dtype))
    model.feed_data({'lq': torch.rand(2, 3, 16, 16)})
    before = [p.detach().clone() for p in model.net_g.parameters()]
    model.optimize_parameters(1)
    assert dtypes == [model.amp_dtype] and model.amp_dtype != torch.float32
    assert all(v == v for v in model.log_dict.values())  # finite, not NaN
    assert any(not torch.equal(a, b) for a, b in zip(before, model.net_g.parameters()))
    model.save_training_state(epoch=0, current_iter=1)
    state = torch.load(tmp_path / '1.state', weights_only=False)
    assert state['scaler'] is not None and 'noise_generator' in state['extra']
    assert set(state['rng']) == {'python', 'numpy', 'torch', 'cuda'}


def test_model_uses_a_noise_level_function_or_map_from_the_dataset(tiny_data):
    model = build_model(_test_model_opt(tiny_data, **{'r2r.noise': {'type': 'dataset'}}))
    y = torch.full((2, 3, 128, 128), 0.5)
    nlf = torch.tensor([[[0.02, 0.02, 0.02], [0.0, 0.0, 0.0]], [[0.0, 0.0, 0.0], [1e-4, 1e-4, 1e-4]]])
    model.feed_data({'lq': y, 'noise_nlf': nlf})
    z = (model.lq - y) / 0.5
    assert z[0].std().item() == pytest.approx(0.1, rel=0.03)  # sqrt(0.02 * 0.5)
    assert z[1].std().item() == pytest.approx(0.01, rel=0.03)
    std_map = torch.zeros(2, 1, 128, 128)
    std_map[..., :64] = 0.2
    model.feed_data({'lq': y, 'noise_std_map': std_map})
    z = (model.lq - y) / 0.5
    assert z[..., :64].std().item() == pytest.approx(0.2, rel=0.03) and z[..., 64:].abs().max() == 0
