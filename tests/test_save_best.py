"""``val.save_best``: the checkpoint of the best validation value so far, for every model."""
import pytest
import re
import torch
from conftest import apply_overrides, built_for_training, r2r_options, train_through_cli

from basicsr_noise.models.base_model import BEST_LABEL
from basicsr_noise.utils.option_check import check_options
from basicsr_noise.utils.options import OptionError


def best_options(tiny_data, mode='max', metric='psnr', **overrides):
    return r2r_options(
        tiny_data, **{
            'val.save_best': {
                'metric': metric,
                'mode': mode
            },
            'val.val_freq': 2,
            'train.total_iter': 8,
            'logger.save_checkpoint_freq': 2,
            **overrides
        })


def logged_values(experiment, metric='psnr'):
    """The value of every validation in the run's log (BasicSR's ``# psnr: 27.1234`` lines)."""
    text = open(next(experiment.glob('train_*.log'))).read()
    return [float(v) for v in re.findall(rf'# {metric}: ([-\d.]+)', text)]


@pytest.fixture
def runs(tiny_data, tmp_path):
    """An 8-iteration run, and the same run stopped at 4 and resumed with ``--auto_resume``."""
    straight = train_through_cli(tmp_path / 'straight', best_options(tiny_data))
    train_through_cli(tmp_path / 'resumed', best_options(tiny_data), '--force_yml', 'train:total_iter=4')
    resumed = train_through_cli(tmp_path / 'resumed', best_options(tiny_data), '--auto_resume')
    return straight, resumed


def test_the_kept_checkpoint_is_the_one_with_the_best_logged_value_and_resume_keeps_it(runs):
    experiment, resumed = runs
    values = logged_values(experiment)
    assert len(values) == 5 and values[4] == values[3]  # iterations 2, 4, 6, 8 and BasicSR's final validation
    values = values[:4]
    best = torch.load(experiment / 'models' / f'net_g_{BEST_LABEL}.pth', weights_only=True)
    record = best['meta']['best']
    best_index = max(range(len(values)), key=lambda i: values[i])
    assert record['iter'] == 2 * (best_index + 1) and record['mode'] == 'max' and record['metric'] == 'psnr'
    assert record['value'] == max(values) or abs(record['value'] - max(values)) < 1e-4  # the log rounds to 4 digits
    assert best['meta']['network_g']['type'] == 'R2RDnCNN'
    # the best weights are the weights of that iteration (with EMA, both, like every checkpoint)
    at_iter = torch.load(experiment / 'models' / f'net_g_{record["iter"]}.pth', weights_only=True)
    for key in ('params', 'params_ema'):
        assert all(torch.equal(at_iter[key][k], v) for k, v in best[key].items())
    assert not (experiment / 'training_states' / f'{BEST_LABEL}.state').exists()
    # stopped at 4 and resumed to 8: the same record and weights, and the record is in the training state
    resumed_best = torch.load(resumed / 'models' / f'net_g_{BEST_LABEL}.pth', weights_only=True)
    assert resumed_best['meta']['best'] == record
    assert all(torch.equal(resumed_best['params'][k], v) for k, v in best['params'].items())
    # BasicSR saves a state before validating its iteration: the state of 4 misses the validation of 4, the
    # resumed run takes it from the best checkpoint's meta
    state = torch.load(resumed / 'training_states' / '4.state', weights_only=False)
    assert state['extra']['best_checkpoint']['iter'] == 2


def test_a_better_value_replaces_the_record_and_a_worse_one_does_not(tiny_data, tmp_path):
    opt = best_options(tiny_data, mode='min', metric='akld')
    opt['val']['metrics'] = {'akld': {'type': 'calculate_akld'}}
    model = built_for_training(opt)
    model.opt['path']['models'] = str(tmp_path)
    for it, value in ((2, 0.5), (4, 0.7), (6, 0.3), (8, 0.3)):
        model.metric_results = {'akld': value}
        model.keep_best_checkpoint('tiny_val', it)
        saved = torch.load(tmp_path / f'net_g_{BEST_LABEL}.pth', weights_only=True)['meta']['best']
        assert saved['iter'] == {2: 2, 4: 2, 6: 6, 8: 6}[it]
    assert model.extra_training_state()['best_checkpoint']['value'] == 0.3
    model.metric_results = {'psnr': 1.}  # a validation without the metric keeps the record and warns
    model.keep_best_checkpoint('tiny_val', 10)
    assert model.best_checkpoint['iter'] == 6


@pytest.mark.parametrize('change, message', [
    ({
        'val.save_best.metric': 'ssim'
    }, "val.save_best.metric = 'ssim' is not computed"),
    ({
        'val.save_best.mode': 'maximum'
    }, 'val.save_best.mode must be min or max'),
    ({
        'val.save_best.metrc': 'x'
    }, 'unknown option val.save_best.metrc'),
    ({
        'val.save_best.dataset': 'other'
    }, "val.save_best.dataset = 'other' is none of"),
    ({
        'val.save_best': 'psnr'
    }, 'val.save_best must be a mapping'),
])
def test_bad_save_best_options_fail_the_preflight_check(tiny_data, change, message):
    """The pre-flight check (run by ``train`` before anything is written, tests/test_cli_errors.py) names the key."""
    with pytest.raises(OptionError, match=re.escape(message)):
        check_options(apply_overrides(best_options(tiny_data), change), 'x.yml')
    check_options(apply_overrides(best_options(tiny_data), {'val.save_best.metric': 'mu_psnr'}), 'x.yml')


def test_a_resumed_run_takes_the_validation_its_state_missed_from_the_best_checkpoint(tiny_data, tmp_path):
    opt = best_options(tiny_data, mode='min', metric='akld')
    opt['val']['metrics'] = {'akld': {'type': 'calculate_akld'}}
    model = built_for_training(opt)
    model.opt['path']['models'] = str(tmp_path)
    for it, value in ((2, 0.5), (4, 0.3)):  # the state of 4 is saved before the validation of 4
        if it == 4:
            state_record = model.extra_training_state()['best_checkpoint']
        model.metric_results = {'akld': value}
        model.keep_best_checkpoint('tiny_val', it)
    resumed = built_for_training(opt)
    resumed.opt['path']['models'] = str(tmp_path)
    resumed.load_extra_training_state({'best_checkpoint': state_record})
    resumed.recover_best_record(4)
    assert resumed.best_checkpoint['iter'] == 4 and resumed.best_checkpoint['value'] == 0.3
    resumed.load_extra_training_state({'best_checkpoint': state_record})
    resumed.recover_best_record(3)  # a best checkpoint from past the resume point is not taken
    assert resumed.best_checkpoint['iter'] == 2
