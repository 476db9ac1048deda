import pytest
import torch
from basicsr.models import build_model
from conftest import r2r_options, run_cli, write_options

from basicsr_noise.archs.dbsn_arch import DBSNNet, DBSNNoiseEstimator, DBSNSigmaMuNet
from basicsr_noise.models.dbsn_model import dbsn_covariances, dbsn_noise_covariance
from basicsr_noise.utils.bayes_fusion import bayes_fusion

TEACHER = {
    'network_teacher': {'type': 'DBSNNet', 'num_in_ch': 3, 'num_feat': 8, 'num_blocks': 1},
    'network_teacher_sigma_mu': {'type': 'DBSNSigmaMuNet', 'num_feat': 8, 'num_mid': 4, 'num_out': 3},
    'network_teacher_noise': {'type': 'DBSNNoiseEstimator', 'num_in_ch': 3, 'num_mid': 4, 'num_out': 3,
                              'zero_init_last': False},
}


@pytest.fixture
def teacher(tmp_path):
    torch.manual_seed(0)
    paths = {}
    for key, cls in zip(TEACHER, (DBSNNet, DBSNSigmaMuNet, DBSNNoiseEstimator)):
        kwargs = {k: v for k, v in TEACHER[key].items() if k != 'type'}
        net = cls(**kwargs)
        paths[key] = str(tmp_path / f'{key}.pth')
        torch.save({'params': net.state_dict()}, paths[key])
    return paths


def distill_options(tiny_data, teacher, **overrides):
    opt = r2r_options(tiny_data, **overrides)
    del opt['r2r']
    opt.update(model_type='DBSNDistillModel', name='distill_tiny', distill={'noise_model': 'awgn', 'noisy_ratio': 0.25},
               **TEACHER)
    opt['train']['ema_decay'] = 0
    opt['datasets']['train'].update(type='UnpairedCleanNoisyDataset', dataroot_gt=str(tiny_data / 'val' / 'clean'))
    for key, path in teacher.items():
        opt['path'][f'pretrain_{key}'] = path
    return opt


def _model(tiny_data, teacher, **distill):
    opt = distill_options(tiny_data, teacher)
    opt['distill'].update(distill)
    opt.update(is_train=True, dist=False, rank=0, world_size=1)
    opt['path'].update(models='/x', training_states='/x', visualization='/x')
    return build_model(opt)


def test_training_pairs_are_teacher_targets_and_learned_noise(tiny_data, teacher):
    model = _model(tiny_data, teacher)
    lq, gt = torch.rand(8, 3, 32, 32), torch.rand(8, 3, 32, 32)
    model.feed_data({'lq': lq, 'gt': gt})
    assert model.n_noisy == 2  # a quarter of the batch: noisy images with pseudo-targets
    torch.testing.assert_close(model.lq[:2], lq[:2])
    with torch.no_grad():
        mu, feat = model.teacher(lq[:2])
        cov_mu, cov_n = dbsn_covariances('awgn', model.teacher_sigma_mu, model.teacher_noise, lq[:2], mu, feat)
        torch.testing.assert_close(model.gt[:2], bayes_fusion(lq[:2], mu, cov_mu, cov_n))
        torch.testing.assert_close(model.gt[2:], gt[2:])  # clean images are their own targets
        level = dbsn_noise_covariance('awgn', model.teacher_noise, gt[2:], gt[2:])
    ratio = ((model.lq[2:] - gt[2:]).flatten(2).std(-1) / level.flatten(1).sqrt()).mean().item()
    assert 0.85 < ratio < 1.15  # the learned noise level, scaled by kappa in [0.9, 1.1]
    before = [p.detach().clone() for p in model.net_g.parameters()]
    model.optimize_parameters(1)
    assert set(model.log_dict) == {'l_noisy', 'l_clean'}
    assert any(not torch.equal(a, b) for a, b in zip(before, model.net_g.parameters()))
    assert all(not p.requires_grad for p in model.teacher.parameters())


def test_distillation_needs_the_teacher(tiny_data, teacher):
    with pytest.raises(ValueError, match='distill.noisy_ratio'):
        _model(tiny_data, teacher, noisy_ratio=2)
    opt = distill_options(tiny_data, teacher)
    del opt['path']['pretrain_network_teacher']
    opt.update(is_train=True, dist=False, rank=0, world_size=1)
    with pytest.raises(ValueError, match='pretrain_network_teacher'):
        build_model(opt)


def test_distillation_through_the_cli(tmp_path, tiny_data, teacher):
    opt = distill_options(tiny_data, teacher, **{'train.total_iter': 3, 'val.val_freq': 3,
                                                 'logger.save_checkpoint_freq': 3})
    result = run_cli(['train', '-opt', write_options(tmp_path / 'd.yml', opt)], cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    assert (tmp_path / 'experiments' / 'distill_tiny' / 'models' / 'net_g_3.pth').exists()
    assert 'Validation tiny_val' in result.stderr
