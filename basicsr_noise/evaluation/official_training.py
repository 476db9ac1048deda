"""Our training steps on the fixtures made by the official training code (R2R, DBSN, NoiseTransfer).

Each fixture (``../shared/data/official_formats``, README rows there) holds an official initial state, a batch,
the seeds, every loss term and the states after the official steps. The runners here load the initial state
through our converters, build our model from a shipped option file (only the sizes of the fixture's reduced
networks and batch changed, plus any ``changes`` an experiment asks for), feed the batch and seeds, call
``optimize_parameters`` and return ours and the official values side by side. ``tests/test_official_training.py``
asserts on them; ``benchmarks/official_training.py`` prints the differences the method docs quote.
"""
import argparse
import torch
from basicsr.models import build_model
from os import path as osp

from basicsr_noise.models.noisetransfer_model import NoiseTransferModel
from basicsr_noise.utils.checkpoint import (convert_dbsn_official, convert_noisetransfer_contrae,
                                            convert_noisetransfer_unet, convert_r2r_official)
from basicsr_noise.utils.options import load_options, shipped_options

# NoiseTransfer: our log key -> (the release's log name, our loss weight of that term)
NOISETRANSFER_LOSSES = {
    'l_g_gan': ('loss_gan_g', 1.),
    'l_g_fm_d': ('loss_fm_gan', 100.),
    'l_g_cons': ('loss_consistency', 100.),
    'l_g_nce': ('loss_contra_noisy_adv', 1.),
    'l_g_fm_e': ('loss_fm_noise', 100.),
    'l_d_nce': ('loss_contra_noisy', 1.),
    'l_g_total': ('loss_g', 1.),
}


def load_fixture(folder, name):
    return torch.load(osp.join(folder, name), weights_only=True)


def build_shipped_model(option_file, changes):
    """The model of a shipped option file (``_base_`` merged) for training on CPU, with ``changes``
    (``{'a.b': value}``) applied; nothing is written."""
    opt = load_options(shipped_options(*option_file.split('/')))
    for dotted, value in changes.items():
        node = opt
        *parents, last = dotted.split('.')
        for key in parents:
            node = node[key]
        node[last] = value
    opt.update(num_gpu=0, is_train=True, dist=False, rank=0, world_size=1)
    opt['path'].update(models='/nonexistent', training_states='/nonexistent', visualization='/nonexistent')
    return build_model(opt)


def step_difference(ours, official, initial):
    """How far our parameters after the steps are from the official ones (floating-point tensors; spectral-norm
    ``_u``/``_v`` vectors apart): ``share_off`` of the elements off by more than 1e-5, ``max_abs``, ``rel_update``
    (the L2 norm of the difference over that of the official update) and ``uv_max_abs``."""
    keys = [k for k in official if torch.is_floating_point(official[k]) and not k.endswith(('_u', '_v'))]
    diff = torch.cat([(ours[k] - official[k]).flatten() for k in keys])
    update = torch.cat([(official[k] - initial[k]).flatten() for k in keys])
    uv = [(ours[k] - official[k]).abs().max().item() for k in official if k.endswith(('_u', '_v'))]
    return {
        'share_off': (diff.abs() > 1e-5).float().mean().item(),
        'max_abs': diff.abs().max().item(),
        'rel_update': (diff.norm() / update.norm()).item(),
        'uv_max_abs': max(uv, default=0.),
        'buffers_equal': all(torch.equal(ours[k], v) for k, v in official.items() if not torch.is_floating_point(v))
    }


def run_r2r(folder, **changes):
    """``r2r/r2r_awgn.yml`` on ``r2r_train_step.pt``: per step the inputs, losses and states, ours and official."""
    fx = load_fixture(folder, 'r2r_train_step.pt')
    batch = fx['noisy'].shape[0]
    converted = convert_r2r_official(fx['init_state_dict'])
    model = build_shipped_model(
        'r2r/r2r_awgn.yml',
        {
            'network_g': converted['meta']['network_g'],
            'datasets.train.batch_size_per_gpu': batch,
            'train.pixel_opt.loss_weight': 1 / (2 * batch),  # the file's 1 / (2 x 128) at this batch
            **changes
        })
    model.net_g.load_state_dict(converted['params'])
    official_states = [convert_r2r_official(fx[k])['params'] for k in ('state_dict_after_step1', 'final_state_dict')]
    steps = []
    for i, step in enumerate(fx['steps']):
        model.noise_generator.manual_seed(step['seed'])  # the release: torch.manual_seed before its one draw
        model.feed_data({'lq': fx['noisy']})
        inputs = (model.lq.clone(), model.gt.clone(), step['input'], step['target'])
        model.optimize_parameters(i + 1)
        steps.append({
            'inputs': inputs,
            'loss': (float(model.log_dict['l_pix']), float(step['loss'])),
            'state': ({
                k: v.clone()
                for k, v in model.net_g.state_dict().items()
            }, official_states[i])
        })
    return {'steps': steps, 'initial': converted['params'], 'model': model}


def official_dbsn_checkpoint(states):
    """The dict the official ``gray_train.py`` saves, from a fixture's ``{dbsn, sigma_mu, sigma_n}`` states."""
    checkpoint = {f'state_dict_{name}': states[name] for name in ('dbsn', 'sigma_mu', 'sigma_n') if name in states}
    return dict(checkpoint, training_params={'step': 0, 'start_epoch': 0}, args=argparse.Namespace(resume='new'))


DBSN_NETS = (('net_g', 'params'), ('net_sigma_mu', 'params_sigma_mu'), ('net_noise', 'params_noise'))


def run_dbsn(folder, run, **changes):
    """A DBSN fixture run (``joint_map``, ``joint_constrained``: ``dbsn_train_step.pt`` on
    ``dbsn/dbsn_grey_awgn25_official.yml``; ``mu``: ``dbsn_pretrain_mu_step.pt`` on ``dbsn_grey_awgn25_mu.yml``)
    at the release's loss scale: per iteration the forward (mu, Sigma_mu, Sigma_n) and the loss, ours and official;
    the states after, per network."""
    mu_run = run == 'mu'
    fx = load_fixture(folder, 'dbsn_pretrain_mu_step.pt' if mu_run else 'dbsn_train_step.pt')
    batch = fx['batch']['noisy'].shape[0]
    converted = convert_dbsn_official(official_dbsn_checkpoint(fx['init']))
    networks = {k: v for k, v in converted['meta'].items() if k.startswith('network_')}
    scale = {
        'train.pixel_opt.loss_weight': 1 / (2 * batch)
    } if mu_run else {
        'train.likelihood_opt.loss_weight': 1 / batch
    }  # the release: mean / (2 batch), the 1/2 dropped
    if run == 'joint_constrained':
        scale.update({'train.likelihood_opt.mode': 'constrained', 'train.likelihood_opt.noise_var_min': 1e-6})
    model = build_shipped_model('dbsn/dbsn_grey_awgn25_mu.yml' if mu_run else 'dbsn/dbsn_grey_awgn25_official.yml', {
        **networks, 'datasets.train.batch_size_per_gpu': batch,
        **scale,
        **changes
    })
    for net, key in DBSN_NETS:
        if key in converted:
            getattr(model, net).load_state_dict(converted[key])
    iters = []
    for i, official in enumerate(fx['runs'][run]['iters']):
        model.feed_data({'lq': fx['batch']['noisy']})
        record = {}
        if not mu_run:
            with torch.no_grad():  # the forward before the update
                mu, feat = model.net_g(model.lq)
                cov_mu, cov_n = model.covariances(model.lq, mu, feat)
            record['forward'] = {
                'mu': (mu, official['mu_out']),
                'sigma_mu': (cov_mu, official['sigma_mu']),
                'sigma_n': (cov_n.expand_as(mu), official['sigma_n'])
            }
        model.optimize_parameters(i + 1)
        record['loss'] = (float(model.log_dict['l_pix' if mu_run else 'l_nll']), float(official['loss']))
        iters.append(record)
    final = convert_dbsn_official(official_dbsn_checkpoint(fx['runs'][run]['iters'][-1]['state_after']))
    states = {
        key: (getattr(model, net).state_dict(), final[key], converted[key])
        for net, key in DBSN_NETS if key in final
    }
    return {'iters': iters, 'states': states, 'model': model}


NOISETRANSFER_CONVERTERS = {
    'generator': ('net_g', convert_noisetransfer_unet),
    'encoder_q': ('net_d', convert_noisetransfer_contrae),
    'encoder_k': ('net_k', convert_noisetransfer_contrae),
}


class EncoderCalledInTheEarlierOrder(NoiseTransferModel):
    """The negative control of the NoiseTransfer fixture (not registered): ``E_q`` on ``y`` in both roles, then on
    ``y_hat``, this package's order before it took the release's."""

    def query_encoder_passes(self, with_fake_encoding):
        self.real_enc = self.net_d(self.real)
        self.real_dis = self.net_d(self.gt, self.key, self.real)
        self.fake_enc = None
        if with_fake_encoding:
            with self.frozen_discriminator():
                self.fake_enc = self.net_d(self.output)
        self.real_passes_have_graph = torch.is_grad_enabled()


def run_noisetransfer(folder, model_class=None, **changes):
    """``noisetransfer.yml`` on ``noisetransfer_train_step_f16.pt`` (width 16, queue 256): per iteration every loss
    term (unweighted, the release's names), the generated images and keys; the queue, its pointer and the three
    networks' states after, ours and official. ``model_class`` swaps in a subclass (a negative control)."""
    fx = load_fixture(folder, 'noisetransfer_train_step_f16.pt')
    states = {k: load_fixture(folder, v) for k, v in fx['state_dict_files'].items()}
    width = fx['hparams']['width']
    model = build_shipped_model(
        'noisetransfer.yml', {
            'network_g.num_feat': width,
            'network_d.num_feat': width,
            'noisetransfer.queue_size': fx['hparams']['queue_size'],
            **changes
        })
    if model_class is not None:
        model.__class__ = model_class
    initial = {}
    for name, (net, convert) in NOISETRANSFER_CONVERTERS.items():
        initial[name] = convert(states[f'{name}_init'])[0]
        getattr(model, net).load_state_dict(initial[name])
    model.queue = fx['queue_init'].t().contiguous()  # the release keeps it as (D, K)
    model.queue_ptr = int(fx['queue_ptr_init'])
    iters = []
    for i, seed in enumerate(fx['seeds']):
        model.noise_generator.manual_seed(seed)  # the release: torch.manual_seed before the step; SFT maps only
        model.feed_data({'gt': fx['clean'], 'lq': fx['noisy'], 'ref': fx['ref_noisy']})
        model.optimize_parameters(i + 1)
        log, official = model.log_dict, fx['losses'][i]
        losses = {
            ours: (float(log[ours]) / weight, float(official[theirs]))
            for ours, (theirs, weight) in NOISETRANSFER_LOSSES.items()
        }
        losses['l_d_gan'] = ((float(log['l_d_real']) + float(log['l_d_fake'])) / 2, float(official['loss_gan_d']))
        losses['out_g_nce_acc'] = (float(log['out_g_nce_acc']), float(official['contraAcc_noisy_adv']))
        iters.append({
            'losses': losses,
            'fake_noisy': (model.output.detach().clone(), fx['fake_noisy'][i]),
            'key': (model.key.clone(), fx['key_noisy'][i])
        })
    nets = {
        name: (getattr(model, net).state_dict(), convert(states[f'{name}_final'])[0], initial[name])
        for name, (net, convert) in NOISETRANSFER_CONVERTERS.items()
    }
    return {
        'iters': iters,
        'queue': (model.queue, fx['queue_final'].t()),
        'queue_ptr': (model.queue_ptr, int(fx['queue_ptr_final'])),
        'states': nets,
        'model': model
    }
