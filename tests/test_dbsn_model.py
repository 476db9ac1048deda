import copy
import glob
import pytest
import torch
from basicsr.models import build_model
from conftest import r2r_options, run_cli, write_options


def dbsn_options(tiny_data, channels=3, noise_model='awgn', stage='joint', **overrides):
    opt = r2r_options(tiny_data, **overrides)
    del opt['r2r']
    k = 6 if noise_model == 'multivariate' else channels
    opt.update(
        model_type='DBSNModel',
        name='dbsn_tiny',
        dbsn={
            'noise_model': noise_model,
            'stage': stage,
            'gamma': 1.0
        },
        network_g={
            'type': 'DBSNNet',
            'num_in_ch': channels,
            'num_feat': 8,
            'num_blocks': 1
        },
        network_sigma_mu={
            'type': 'DBSNSigmaMuNet',
            'num_feat': 8,
            'num_mid': 4,
            'num_out': k
        },
        network_noise={
            'type': 'DBSNNoiseEstimator',
            'num_in_ch': channels,
            'num_mid': 4,
            'num_out': k,
            'zero_init_last': False
        })
    opt['train']['ema_decay'] = 0
    if stage == 'mu':
        opt['train']['pixel_opt'] = {'type': 'MSELoss', 'loss_weight': 1.0}
    else:
        opt['train'].pop('pixel_opt')
        opt['train']['likelihood_opt'] = {'type': 'DBSNLikelihoodLoss', 'mode': 'constrained'}
    return opt


def _model(tiny_data, **kw):
    opt = dbsn_options(tiny_data, **kw)
    opt.update(is_train=True, dist=False, rank=0, world_size=1)
    opt['path'].update(models='/x', training_states='/x', visualization='/x')
    return build_model(copy.deepcopy(opt))


def _snapshot(net):
    return [p.detach().clone() for p in net.parameters()]


def _changed(before, net):
    return any(not torch.equal(a, b) for a, b in zip(before, net.parameters()))


@pytest.mark.parametrize('stage, trains', [('mu', {'g'}), ('sigma', {'sigma_mu', 'noise'}),
                                           ('joint', {'g', 'sigma_mu', 'noise'})])
def test_each_stage_trains_its_networks(tiny_data, stage, trains):
    model = _model(tiny_data, stage=stage)
    nets = {'g': model.net_g, 'sigma_mu': model.net_sigma_mu, 'noise': model.net_noise}
    before = {k: _snapshot(v) for k, v in nets.items()}
    model.feed_data({'lq': torch.rand(2, 3, 24, 24)})
    model.optimize_parameters(1)
    assert {k for k, v in nets.items() if _changed(before[k], v)} == trains
    assert all(torch.isfinite(torch.tensor(v)) for v in model.log_dict.values())


@pytest.mark.parametrize('channels, noise_model', [(1, 'awgn'), (1, 'hetero'), (3, 'hetero'), (3, 'multivariate')])
def test_covariances_and_fused_output(tiny_data, channels, noise_model):
    model = _model(tiny_data, channels=channels, noise_model=noise_model)
    y = torch.rand(2, channels, 16, 16)
    mu, feat = model.net_g(y)
    cov_mu, cov_n = model.covariances(y, mu, feat)
    if noise_model == 'multivariate':
        assert cov_mu.shape == (2, 16, 16, 3, 3) and cov_n.shape == (2, 1, 1, 3, 3)
        assert torch.linalg.eigvalsh(cov_n).min() >= -1e-6
    else:
        assert cov_mu.shape == (2, channels, 16, 16)
        assert cov_n.shape == ((2, channels, 1, 1) if noise_model == 'awgn' else (2, channels, 16, 16))
        assert (cov_n > 0).all()
    model.feed_data({'lq': y})
    model.optimize_parameters(1)
    model.lq = y
    model.test()
    assert model.output.shape == y.shape and model.output_mu.shape == y.shape
    lo, hi = torch.minimum(y, model.output_mu), torch.maximum(y, model.output_mu)
    if noise_model != 'multivariate':  # per channel the fused value lies between mu and y
        assert ((model.output >= lo - 1e-5) & (model.output <= hi + 1e-5)).all()


def test_bad_dbsn_options_are_named(tiny_data):
    with pytest.raises(ValueError, match='dbsn.stage'):
        _model(tiny_data, stage='all')
    with pytest.raises(ValueError, match='network_sigma_mu.num_out must be 6'):
        opt = dbsn_options(tiny_data, noise_model='multivariate')
        opt['network_sigma_mu']['num_out'] = 3
        opt.update(is_train=True, dist=False, rank=0, world_size=1)
        build_model(opt)


def test_staged_training_through_the_cli_and_exact_resume(tmp_path, tiny_data):
    common = {'train.total_iter': 4, 'logger.save_checkpoint_freq': 4, 'val.val_freq': 4}
    mu_dir = tmp_path / 'mu'
    mu_dir.mkdir()
    result = run_cli(['train', '-opt',
                      write_options(mu_dir / 'o.yml', dbsn_options(tiny_data, stage='mu', **common))],
                     cwd=mu_dir)
    assert result.returncode == 0, result.stderr[-2000:]
    mu_ckpt = mu_dir / 'experiments' / 'dbsn_tiny' / 'models' / 'net_g_4.pth'

    def joint(workdir, *extra):
        workdir.mkdir(exist_ok=True)
        opt = dbsn_options(
            tiny_data, stage='joint', **{
                'train.total_iter': 20,
                'logger.save_checkpoint_freq': 10,
                'val.val_freq': 10
            })
        opt['path']['pretrain_network_g'] = str(mu_ckpt)
        res = run_cli(['train', '-opt', write_options(workdir / 'o.yml', opt), *extra], cwd=workdir)
        assert res.returncode == 0, res.stderr[-2000:]
        return workdir / 'experiments' / 'dbsn_tiny'

    straight = joint(tmp_path / 'straight')
    log = open(glob.glob(str(straight / 'train_*.log'))[0]).read()
    assert '# psnr:' in log and '# mu_psnr:' in log  # fused and raw D-BSN outputs are both validated
    joint(tmp_path / 'resumed', '--force_yml', 'train:total_iter=10')
    resumed = joint(tmp_path / 'resumed', '--auto_resume')
    for name in ('net_g_20.pth', 'net_sigma_mu_20.pth', 'net_noise_20.pth'):
        a = torch.load(straight / 'models' / name, weights_only=True)['params']
        b = torch.load(resumed / 'models' / name, weights_only=True)['params']
        assert all(torch.equal(a[k], b[k]) for k in a), f'{name} differs after resume'


def test_a_saved_d_bsn_checkpoint_denoises_on_its_own(tiny_data, tmp_path):
    """The checkpoint's meta rebuilds the plain D-BSN: ``NetworkDenoiser`` (``infer --ckpt``) gets its mu image."""
    from basicsr_noise.utils.denoiser import NetworkDenoiser
    model = _model(tiny_data)
    model.opt['path']['models'] = str(tmp_path)
    model.save_network(model.net_g, 'net_g', 1)
    ckpt = torch.load(tmp_path / 'net_g_1.pth', weights_only=False)
    assert 'return_feature' not in ckpt['meta']['network_g'] and model.opt['network_g']['return_feature']
    y = torch.rand(1, 3, 24, 24)
    out = NetworkDenoiser(str(tmp_path / 'net_g_1.pth'), torch.device('cpu'))(y)
    with torch.no_grad():
        mu, _ = model.net_g.eval()(y)
    assert torch.is_tensor(out) and torch.allclose(out, mu, atol=1e-6)


def test_test_honours_val_tile_size(tiny_data):
    """Tiled testing runs D-BSN on tiles and, with an overlap beyond the receptive field, equals the whole image."""
    model = _model(tiny_data, noise_model='hetero')  # per-pixel noise levels: no per-image statistic to differ
    y = torch.rand(1, 3, 40, 40)
    model.feed_val_data({'lq': y})
    model.test()
    whole, whole_mu = model.output.clone(), model.output_mu.clone()
    sizes = []
    hook = model.net_g.register_forward_pre_hook(lambda module, inputs: sizes.append(tuple(inputs[0].shape[-2:])))
    model.opt['val'].update(tile_size=24, tile_overlap=22, tile_batch=1)
    model.feed_val_data({'lq': y})
    model.test()
    hook.remove()
    assert sizes and set(sizes) == {(24, 24)}  # the networks saw tiles, not the image
    assert torch.allclose(model.output, whole, atol=1e-5) and torch.allclose(model.output_mu, whole_mu, atol=1e-5)


@pytest.mark.parametrize('missing', ['network_sigma_mu', 'network_noise'])
def test_missing_networks_fail_before_any_folder_is_made(tiny_data, tmp_path, missing):
    opt = dbsn_options(tiny_data)
    del opt[missing]
    result = run_cli(['train', '-opt', write_options(tmp_path / 'dbsn.yml', opt)], cwd=tmp_path)
    assert result.returncode == 2 and f'DBSNModel needs {missing}' in result.stderr
    assert not (tmp_path / 'experiments').exists()
