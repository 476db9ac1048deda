"""The command line shortens a user's bad input to its message and keeps the traceback of anything else."""
import pytest

from basicsr_noise import cli
from basicsr_noise.commands import convert
from basicsr_noise.utils.errors import InputError


def _failing(exc):

    def run(args):
        raise exc

    return run


@pytest.mark.parametrize(
    'exc', [InputError('option x.y is bad'),
            FileNotFoundError('no such file a.pth'),
            FileExistsError('b.pth exists')])
def test_user_errors_end_with_their_message_and_status_2(monkeypatch, capsys, exc):
    monkeypatch.setattr(convert, 'run', _failing(exc))
    with pytest.raises(SystemExit) as stop:
        cli.main(['convert', '--method', 'r2r', 'in.pth', 'out.pth'])
    assert stop.value.code == 2
    assert capsys.readouterr().err == f'basicsr-noise: error: {exc}\n'


@pytest.mark.parametrize('exc', [ValueError('an internal bug'), KeyError('weight'), RuntimeError('shape mismatch')])
def test_unexpected_errors_keep_their_traceback(monkeypatch, exc):
    monkeypatch.setattr(convert, 'run', _failing(exc))
    with pytest.raises(type(exc)) as raised:  # propagated: Python prints the whole traceback
        cli.main(['convert', '--method', 'r2r', 'in.pth', 'out.pth'])
    assert raised.value is exc


def test_a_bad_checkpoint_is_a_user_error(tmp_path, capsys):
    bad = tmp_path / 'bad.pth'
    bad.write_bytes(b'not a checkpoint')
    with pytest.raises(SystemExit):
        cli.main(['convert', '--method', 'r2r', str(bad), str(tmp_path / 'out.pth')])
    assert f'Cannot read checkpoint {bad}' in capsys.readouterr().err
