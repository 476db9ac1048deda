"""Our training steps against the official training code: R2R, DBSN and NoiseTransfer.

The runners (``basicsr_noise/evaluation/official_training.py``) load each fixture's official initial state through
our converters, build our model from the shipped option file with ``build_model`` (only the fixture's reduced
sizes and batch changed), feed its batch and seeds and call ``optimize_parameters``. These tests assert every loss
term and the states after the steps.

Adam's first updates are about ``lr * sign(grad)``, so an element whose gradient is within rounding of zero may
move by +-lr when two codes sum in another order. Where the arithmetic is the same (R2R) the states are compared
bit for bit; elsewhere as a correct step always meets them: at most 0.1 % of the elements off by more than 1e-5
and each network's update within 1e-2 relative L2 of the official one. The negative controls show that a wrong
order, scale or constant fails them. The runs use one thread: with two, oneDNN's convolution backward sums in
another order and the last bits move.
"""
import pytest
import torch
from conftest import SHARED_DATA, run_cli
from os import path as osp

from basicsr_noise.commands.convert import converter_options
from basicsr_noise.evaluation.official_training import (EncoderCalledInTheEarlierOrder, build_shipped_model,
                                                        convert_dbsn_official, load_fixture, official_dbsn_checkpoint,
                                                        run_dbsn, run_noisetransfer, run_r2r, step_difference)
from basicsr_noise.utils.checkpoint import convert_r2r_official, load_checkpoint_file
from basicsr_noise.utils.errors import InputError

FIXTURES = osp.join(SHARED_DATA, 'official_formats')
pytestmark = pytest.mark.skipif(
    not osp.isfile(osp.join(FIXTURES, 'r2r_train_step.pt')),
    reason=f'the official training-step fixtures are not in {FIXTURES} (../shared/data is absent in a user clone)')


@pytest.fixture(autouse=True)
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def assert_losses(pairs, where):
    for name, (ours, official) in pairs.items():
        assert ours == pytest.approx(official, rel=1e-5), f'{where} {name}: ours {ours}, official {official}'


def assert_step_matches(ours, official, initial, name):
    diff = step_difference(ours, official, initial)
    assert set(ours) == set(official), name
    assert diff['share_off'] <= 1e-3, f'{name}: {diff}'
    assert diff['rel_update'] <= 1e-2, f'{name}: {diff}'
    assert diff['uv_max_abs'] <= 1e-4 and diff['buffers_equal'], f'{name}: {diff}'


# ---------------------------------------------------------------------------------------------------------- R2R
def test_r2r_awgn_step_is_the_official_step_bit_for_bit():
    result = run_r2r(FIXTURES)
    assert result['model'].net_g.body[3].eps == 1e-5  # the AWGN network keeps BatchNorm's defaults
    for i, step in enumerate(result['steps']):
        lq, gt, official_in, official_target = step['inputs']
        assert torch.equal(lq, official_in) and torch.equal(gt, official_target)
        assert step['loss'][0] == step['loss'][1]
        ours, official = step['state']
        for key, value in official.items():
            assert torch.equal(ours[key], value), f'step {i + 1}: {key} differs'


def test_r2r_step_with_the_mean_loss_is_not_the_official_step():
    """The negative control: BasicSR's mean MSE (the files before) is 800x smaller and Adam's eps shows."""
    result = run_r2r(FIXTURES, **{'train.pixel_opt.reduction': 'mean', 'train.pixel_opt.loss_weight': 1.})
    ours, official = result['steps'][0]['state']
    assert step_difference(ours, official, result['initial'])['share_off'] > 0.05


def test_r2r_converter_takes_the_batchnorm_settings_of_the_network_it_converts(tmp_path):
    awgn_state = load_fixture(FIXTURES, 'r2r_train_step.pt')['init_state_dict']
    awgn = convert_r2r_official(awgn_state)['meta']['network_g']
    real = convert_r2r_official(load_checkpoint_file(osp.join(SHARED_DATA, 'weights',
                                                              'r2r_sidd_dncnn_official.pth')))['meta']['network_g']
    assert (awgn['bn_eps'], awgn['bn_momentum'], awgn['first_bias']) == (1e-5, 0.1, False)
    assert (real['bn_eps'], real['bn_momentum'], real['first_bias']) == (1e-4, 0.95, True)
    src = tmp_path / 'awgn.pth'
    torch.save(awgn_state, src)
    result = run_cli(
        ['convert', '--method', 'r2r',
         str(src), str(tmp_path / 'out.pth'), '--option', 'bn_eps=1e-3'], cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    assert torch.load(tmp_path / 'out.pth', weights_only=True)['meta']['network_g']['bn_eps'] == 1e-3
    with pytest.raises(InputError, match='bn_eps=VALUE, bn_momentum=VALUE'):  # the CLI exits 2 with it
        converter_options(convert_r2r_official, ['eps=1'])


# ---------------------------------------------------------------------------------------------------------- DBSN
@pytest.mark.parametrize('run', ['joint_map', 'joint_constrained', 'mu'])
def test_dbsn_step_is_the_official_step(run):
    """The released grey joint script (MAP), the same loop with the official constrained loss, the mu
    pre-training script."""
    result = run_dbsn(FIXTURES, run)
    for i, record in enumerate(result['iters']):
        for name, (ours, official) in record.get('forward', {}).items():
            torch.testing.assert_close(ours, official, rtol=1e-5, atol=1e-9, msg=f'{run} {i + 1} {name}')
        assert_losses({'loss': record['loss']}, f'{run} iteration {i + 1}')
    for key, (ours, official, initial) in result['states'].items():
        assert_step_matches(ours, official, initial, f'{run} {key}')
        if run != 'mu':  # this fixture allows more: within 1e-7 of the official parameters
            for name, value in official.items():
                torch.testing.assert_close(ours[name], value, rtol=0, atol=1e-7)


def test_dbsn_with_our_recipe_defaults_is_not_the_official_step():
    """The negative control: eps 1e-6 on the covariances and no 3e-4 offset move the constrained step."""
    ours = {
        'train.likelihood_opt.eps': 1e-6,
        'train.likelihood_opt.noise_var_min': 0.,
        'network_noise.output_offset': 0.
    }
    result = run_dbsn(FIXTURES, 'joint_constrained', **ours)
    ours, official = result['iters'][0]['loss']
    assert abs(ours / official - 1) > 1e-3
    assert not torch.allclose(*result['iters'][0]['forward']['sigma_n'], rtol=1e-5, atol=1e-9)


def test_dbsn_converter_writes_one_checkpoint_the_option_files_load(tmp_path):
    fx = load_fixture(FIXTURES, 'dbsn_train_step.pt')
    src = tmp_path / 'official.pth'
    torch.save(official_dbsn_checkpoint(fx['init']), src)  # with the script's argparse Namespace, as released
    out = tmp_path / 'dbsn.pth'
    result = run_cli(['convert', '--method', 'dbsn', str(src), str(out)], cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    ckpt = torch.load(out, weights_only=True)
    assert ckpt['meta']['network_noise']['output_offset'] == 3e-4  # the grey estimator's constant
    assert {k: v for k, v in ckpt.items() if k != 'meta'}.keys() == {'params', 'params_sigma_mu', 'params_noise'}
    model = build_shipped_model(
        'dbsn/dbsn_grey_awgn25_official.yml', {
            **{
                k: v
                for k, v in ckpt['meta'].items() if k.startswith('network_')
            }, 'path.pretrain_network_g': str(out),
            'path.pretrain_network_sigma_mu': str(out),
            'path.param_key_sigma_mu': 'params_sigma_mu',
            'path.pretrain_network_noise': str(out),
            'path.param_key_noise': 'params_noise'
        })
    official = fx['runs']['joint_map']['iters'][0]
    with torch.no_grad():
        mu, feat = model.net_g(fx['batch']['noisy'])
        cov_mu, cov_n = model.covariances(fx['batch']['noisy'], mu, feat)
    torch.testing.assert_close(mu, official['mu_out'], rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(cov_mu, official['sigma_mu'], rtol=1e-5, atol=1e-7)
    torch.testing.assert_close(cov_n.expand_as(mu), official['sigma_n'], rtol=1e-5, atol=1e-9)
    assert convert_dbsn_official({'state_dict_dbsn': fx['init']['dbsn']}).keys() == {'params', 'meta'}
    with pytest.raises(InputError, match='Not an official DBSN checkpoint'):  # the CLI exits 2 with it
        convert_dbsn_official({'state_dict_dbsn': {'module.something.weight': torch.zeros(1)}})


# --------------------------------------------------------------------------------------------------- NoiseTransfer
def test_noisetransfer_step_is_the_official_step():
    result = run_noisetransfer(FIXTURES)
    for i, record in enumerate(result['iters']):
        assert_losses(record['losses'], f'iteration {i + 1}')
        torch.testing.assert_close(*record['fake_noisy'], rtol=0, atol=1e-5)
        torch.testing.assert_close(*record['key'], rtol=0, atol=1e-6)
    torch.testing.assert_close(*result['queue'], rtol=0, atol=1e-6)
    assert result['queue_ptr'][0] == result['queue_ptr'][1]
    for name, (ours, official, initial) in result['states'].items():
        assert_step_matches(ours, official, initial, name)


def test_noisetransfer_step_with_the_encoder_called_in_another_order_is_not():
    """Each train-mode call power-iterates the spectral norms the two roles share: the order of the calls shows."""
    result = run_noisetransfer(FIXTURES, model_class=EncoderCalledInTheEarlierOrder)
    ours, official = result['iters'][0]['losses']['l_g_fm_e']
    assert abs(ours / official - 1) > 1e-3
    assert step_difference(*result['states']['generator'])['share_off'] > 0.1
