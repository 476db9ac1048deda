import copy
import torch
from basicsr.losses import build_loss
from basicsr.utils.registry import MODEL_REGISTRY
from collections import OrderedDict
from torch import distributed as dist

from basicsr_noise.archs.noisetransfer_arch import COND_DIM
from basicsr_noise.utils.checkpoint import load_checkpoint_file
from basicsr_noise.utils.options import plain
from .base_model import method_options
from .gan_base_model import NoiseGANModel

NOISETRANSFER_DEFAULTS = {'queue_size': 4096, 'key_momentum': 0.999, 'val_seed': 0, 'l1_warmup_iter': 0}
L1_TERMS = ('fm_d', 'cons', 'fm_e')  # the three x100 L1 terms that pull the noise to zero early (docs/noisetransfer.md)
KEY_ENCODER_PARAMS = 'params_key_encoder'


def _mean(values):
    return sum(values) / len(values)


@MODEL_REGISTRY.register()
class NoiseTransferModel(NoiseGANModel):
    """NoiseTransfer (Lee and Kim, *NoiseTransfer: Image Noise Generation with Contrastive Embeddings*, ACCV 2022):
    a generator conditioned on the contrastive embedding of one reference noisy image.

    Data: triples ``gt`` (clean ``c``), ``lq`` (its noisy version ``y``) and ``ref`` (another noisy image of the
    same noise, ``y2``), from ``NoiseReferenceDataset`` / ``NoiseReferenceMixDataset``. Networks: ``network_g``
    (``NoiseTransferUNet``) makes ``y_hat = c + G(c, k)`` with ``k = E_k(y2)``; ``network_d``
    (``NoiseTransferContraE``) is the query encoder ``E_q`` in both of its roles, encoder and conditional
    discriminator; the key encoder ``E_k`` is its EMA (``noisetransfer.key_momentum``, parameters only), never
    stepped by gradient. The queue holds ``noisetransfer.queue_size`` past keys (FIFO, as the release); under DDP
    the keys of every rank are enqueued, as in MoCo.

    Losses (the release's, docs/noisetransfer.md "Training"): G minimises ``gan_opt`` on the three patch-logit maps
    (averaged), ``feature_match_d_opt`` (D features of ``y`` vs ``y_hat``), ``consistency_opt`` (blurred L1),
    ``contrastive_opt`` (InfoNCE of ``E_q(y_hat)`` against ``k``) and ``feature_match_e_opt`` (encoder features);
    it is stepped first. ``E_q`` then minimises the InfoNCE of ``E_q(y)`` against ``k`` plus the discriminator's
    ``gan_opt`` (real and fake halved). Logs: ``l_g_gan``, ``l_g_fm_d``, ``l_g_cons``, ``l_g_nce``, ``l_g_fm_e``,
    ``l_d_real``, ``l_d_fake``, ``l_d_nce``, ``out_g_nce_acc``, ``out_d_nce_acc``.

    ``noisetransfer.l1_warmup_iter`` (default 0: off, the release's training) ramps the three L1 terms
    (``fm_d``, ``cons``, ``fm_e``) linearly from ``1 / l1_warmup_iter`` at iteration 1 to their full weight at
    iteration ``l1_warmup_iter``, so that the adversarial and contrastive terms grow the noise before the L1 terms
    pull it towards zero (a CPU-budget option, not the release's; the logged ``l_g_*`` are the scaled terms and
    ``out_g_l1_scale`` the factor).

    The training state holds the key encoder, the queue and its pointer (the release saves neither), so a resume
    is exact. ``net_g`` checkpoints hold the key encoder too (``params_key_encoder``, ``meta.network_key_encoder``):
    ``GeneratorNoise`` and ``basicsr-noise generate --ref`` need only that file.

    Validation uses the paired reference (the official evaluation): ``y_hat = clamp(c + G(c, E_k(y)))`` against
    ``y``, drawn from a generator seeded ``noisetransfer.val_seed``; visuals ``result``, ``gt`` (real noisy) and
    ``clean``, for ``calculate_akld`` / ``calculate_ks``.
    """
    batch_keys = ('gt', 'lq', 'ref')
    batch_keys_hint = ('NoiseTransferModel trains on (clean, noisy, same-noise reference) triples: use '
                       'NoiseReferenceDataset or NoiseReferenceMixDataset, or a dataset that yields the three.')

    @classmethod
    def check_options(cls, opt):
        super().check_options(opt)
        nt = method_options(opt, 'noisetransfer', NOISETRANSFER_DEFAULTS)
        if int(nt['queue_size']) < 1:
            raise ValueError(f'noisetransfer.queue_size must be at least 1, got {nt["queue_size"]}.')
        if not 0 <= float(nt['key_momentum']) < 1:
            raise ValueError(f'noisetransfer.key_momentum must be in [0, 1), got {nt["key_momentum"]}.')
        if int(nt['l1_warmup_iter']) < 0:
            raise ValueError(f'noisetransfer.l1_warmup_iter must be at least 0 (0: off), got {nt["l1_warmup_iter"]}.')
        g_dim = (opt.get('network_g') or {}).get('cond_dim', COND_DIM)
        d_dim = (opt.get('network_d') or {}).get('cond_dim', COND_DIM)
        if g_dim != d_dim:
            raise ValueError(f'network_g.cond_dim ({g_dim}) and network_d.cond_dim ({d_dim}) differ: the generator is '
                             'conditioned on the encoder\'s embedding.')
        if not opt.get('is_train', True) or not isinstance(opt.get('train'), dict):
            return
        if not isinstance(opt['train'].get('contrastive_opt'), dict):
            raise ValueError('NoiseTransferModel needs train.contrastive_opt (NoiseTransferInfoNCELoss): the noise '
                             'embedding is learned by it.')

    def read_options(self, opt):
        nt = opt['noisetransfer']
        self.queue_size, self.key_momentum = int(nt['queue_size']), float(nt['key_momentum'])
        self.val_seed = int(nt['val_seed'])
        self.l1_warmup_iter = int(nt['l1_warmup_iter'])
        self.l1_scale = 1.0

    def __init__(self, opt):
        super().__init__(opt)
        self.init_noise_generator()
        if not self.is_train:
            self.net_k = self.build_key_encoder()

    def build_key_encoder(self):
        """``E_k``: from ``pretrain_network_g``'s ``params_key_encoder`` when it has one, else a copy of ``E_q``."""
        if hasattr(self, 'net_d'):
            net_k = copy.deepcopy(self.get_bare_model(self.net_d))
        else:
            from basicsr.archs import build_network
            net_k = build_network(dict(self.opt['network_d'])).to(self.device)
        load_path = self.opt['path'].get('pretrain_network_g')
        if load_path is not None:
            ckpt = load_checkpoint_file(load_path)
            if KEY_ENCODER_PARAMS in ckpt:
                net_k.load_state_dict(ckpt[KEY_ENCODER_PARAMS])
            elif not hasattr(self, 'net_d'):
                raise ValueError(f'{load_path} holds no key encoder ({KEY_ENCODER_PARAMS}): it is not a NoiseTransfer '
                                 'generator checkpoint.')
        return net_k.requires_grad_(False)  # in train mode, as the release: its spectral norms keep iterating

    def init_training_settings(self):
        super().init_training_settings()
        self.net_k = self.build_key_encoder()
        generator = torch.Generator().manual_seed(int(self.opt.get('manual_seed') or 0))  # the same on every rank
        cond_dim = self.opt['network_d'].get('cond_dim', COND_DIM)
        queue = torch.randn(self.queue_size, cond_dim, generator=generator)
        self.queue = torch.nn.functional.normalize(queue, dim=1).to(self.device)
        self.queue_ptr = 0

    def build_losses(self, train_opt):
        super().build_losses(train_opt)
        for name, key in (('nce', 'contrastive_opt'), ('cons', 'consistency_opt'), ('fm_d', 'feature_match_d_opt'),
                          ('fm_e', 'feature_match_e_opt')):
            setattr(self, f'cri_{name}', build_loss(train_opt[key]).to(self.device) if train_opt.get(key) else None)

    # ------------------------------------------------------------------------------------------ data
    def feed_data(self, data):
        self.check_batch_keys(data)
        self.gt = data['gt'].to(self.device)  # clean c
        self.real = data['lq'].to(self.device)  # its noisy version y
        self.ref = data['ref'].to(self.device)  # a noisy image of the same noise, y2

    def feed_val_data(self, data):
        self.gt = data['gt'].to(self.device)
        self.real = data['lq'].to(self.device)
        self.ref = data['ref'].to(self.device) if 'ref' in data else self.real  # the paired reference

    def nondist_validation(self, dataloader, current_iter, tb_logger, save_img):
        self.val_generator = torch.Generator(device=self.device).manual_seed(self.val_seed)
        super().nondist_validation(dataloader, current_iter, tb_logger, save_img)

    def test(self):
        net_g, net_k = self.test_network(), self.net_k
        was_training = net_g.training, net_k.training
        net_g.eval()
        net_k.eval()
        with torch.no_grad():
            _, key = net_k(self.ref)  # from the whole reference: the encoder pools over the image

            def noise_of(clean):  # tiles come image-major within a tile (tiled_forward), as repeat orders keys
                return net_g(clean, key.repeat(clean.shape[0] // key.shape[0], 1), self.val_generator)

            self.output = (self.gt + self.tiled(noise_of, self.gt)).clamp(0, 1)
        net_g.train(was_training[0])
        net_k.train(was_training[1])

    def get_current_visuals(self):
        return OrderedDict(result=self.output.detach().cpu(), gt=self.real.detach().cpu(), clean=self.gt.detach().cpu())

    def _clear_batch(self):
        super()._clear_batch()
        for attr in ('real', 'ref', 'key', 'real_enc', 'real_dis', 'fake_enc'):
            if hasattr(self, attr):
                delattr(self, attr)

    # ------------------------------------------------------------------------------------------ the steps
    def generate(self):
        with torch.no_grad():
            _, self.key = self.net_k(self.ref)
        self.output = self.gt + self.net_g(self.gt, self.key, self.noise_generator)  # not clamped, as the release
        self.query_encoder_passes(with_fake_encoding=torch.is_grad_enabled())

    def query_encoder_passes(self, with_fake_encoding):
        """``E_q``'s passes before the losses, in the release's order: encoder on ``y``, encoder on ``y_hat`` (G
        steps only), discriminator on ``y``; ``g_losses`` then runs the discriminator on ``y_hat``.

        The order matters: every train-mode call power-iterates the spectral norms of the convolutions the two
        roles share, so another order gives other normalised weights (``tests/test_official_training.py``).
        The passes on ``y`` keep their graphs for the D step (the release computes them once); the encoder pass
        on ``y_hat`` only feeds G, so D's parameters take no gradient from it.
        """
        self.real_enc = self.net_d(self.real)
        self.fake_enc = None
        if with_fake_encoding:
            with self.frozen_discriminator():
                self.fake_enc = self.net_d(self.output)
        self.real_dis = self.net_d(self.gt, self.key, self.real)
        self.real_passes_have_graph = torch.is_grad_enabled()

    def g_losses(self):
        losses = OrderedDict()
        # computed here only when generate ran without gradients (an evaluation of the objective)
        fake_features, fake_query = self.fake_enc if self.fake_enc is not None else self.net_d(self.output)
        fake_dis_features, fake_logits = self.net_d(self.gt, self.key, self.output)
        losses['gan'] = _mean([self.cri_gan(logit, True, is_disc=False) for logit in fake_logits])
        if self.cri_fm_d is not None:
            losses['fm_d'] = _mean(
                [self.cri_fm_d(fake, real.detach()) for fake, real in zip(fake_dis_features, self.real_dis[0])])
        if self.cri_cons is not None:
            losses['cons'] = self.cri_cons(self.output, self.real)
        losses['nce'], losses['out_nce_acc'] = self.cri_nce(fake_query, self.key, self.queue)
        if self.cri_fm_e is not None:
            losses['fm_e'] = _mean(
                [self.cri_fm_e(fake, real.detach()) for fake, real in zip(fake_features, self.real_enc[0])])
        if self.l1_warmup_iter > 0:
            for name in L1_TERMS:
                if name in losses:
                    losses[name] = losses[name] * self.l1_scale
            losses['out_l1_scale'] = self.output.new_tensor(self.l1_scale)
        return losses

    def d_losses(self):
        if not self.real_passes_have_graph:  # a discriminator-only iteration ran generate without gradients
            with torch.enable_grad():
                self.query_encoder_passes(with_fake_encoding=False)
        _, query = self.real_enc
        real_logits = self.real_dis[1]
        _, fake_logits = self.net_d(self.gt, self.key, self.output.detach())
        nce, accuracy = self.cri_nce(query, self.key, self.queue)
        return OrderedDict(
            real=_mean([self.cri_gan(logit, True, is_disc=True) for logit in real_logits]),
            fake=_mean([self.cri_gan(logit, False, is_disc=True) for logit in fake_logits]),
            nce=nce,
            out_real=_mean([logit.detach().mean() for logit in real_logits]),
            out_fake=_mean([logit.detach().mean() for logit in fake_logits]),
            out_nce_acc=accuracy)

    def optimize_parameters(self, current_iter):
        if self.l1_warmup_iter > 0:
            self.l1_scale = min(1.0, current_iter / self.l1_warmup_iter)
        super().optimize_parameters(current_iter)
        self.update_key_encoder()
        self.enqueue(self.key)
        del self.real_enc, self.real_dis, self.fake_enc  # their graphs are spent

    @torch.no_grad()
    def update_key_encoder(self):
        """``E_k <- m E_k + (1 - m) E_q`` on the parameters (the spectral norms' ``u``/``v`` are E_k's own)."""
        for param_q, param_k in zip(self.get_bare_model(self.net_d).parameters(), self.net_k.parameters()):
            param_k.mul_(self.key_momentum).add_(param_q.detach(), alpha=1 - self.key_momentum)

    @torch.no_grad()
    def enqueue(self, keys):
        """Write the batch's keys (every rank's under DDP) at the pointer; as the release, a batch that would run
        past the end is cut there and the pointer wraps to 0."""
        keys = keys.detach().float()
        if self.opt['dist']:
            gathered = [torch.empty_like(keys) for _ in range(dist.get_world_size())]
            dist.all_gather(gathered, keys.contiguous())
            keys = torch.cat(gathered)
        n_push = min(self.queue_size - self.queue_ptr, keys.shape[0])
        self.queue[self.queue_ptr:self.queue_ptr + n_push] = keys[:n_push]
        self.queue_ptr = (self.queue_ptr + n_push) % self.queue_size

    # ------------------------------------------------------------------------------------------ state
    def extra_training_state(self):
        state = super().extra_training_state()
        state.update(
            queue=self.queue.cpu(),
            queue_ptr=self.queue_ptr,
            key_encoder={
                k: v.cpu()
                for k, v in self.net_k.state_dict().items()
            })
        return state

    def load_extra_training_state(self, extra):
        super().load_extra_training_state(extra)
        if 'queue' in extra:
            self.queue = extra['queue'].to(self.device)
            self.queue_ptr = int(extra['queue_ptr'])
            self.net_k.load_state_dict(extra['key_encoder'])

    def save(self, epoch, current_iter):
        nets, keys = [self.net_g], ['params']
        if hasattr(self, 'net_g_ema'):
            nets, keys = nets + [self.net_g_ema], keys + ['params_ema']
        self.save_network(nets + [self.net_k], 'net_g', current_iter, param_key=keys + [KEY_ENCODER_PARAMS])
        self.save_network(self.net_d, 'net_d', current_iter)
        self.save_training_state(epoch, current_iter)

    def checkpoint_meta(self, net_label):
        meta = super().checkpoint_meta(net_label)
        if net_label == 'net_g':
            meta['network_key_encoder'] = plain(self.opt['network_d'])
        return meta
