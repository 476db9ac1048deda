import torch
from basicsr.archs import build_network
from basicsr.losses import build_loss
from collections import OrderedDict
from contextlib import contextmanager

from .base_model import NoiseBaseModel


def _split_monitored(terms):
    """``(losses, monitored)``: the ``out_<name>`` entries of a step's terms are logged, not optimised."""
    losses, monitored = OrderedDict(), OrderedDict()
    for name, value in terms.items():
        if name.startswith('out_'):
            monitored[name[len('out_'):]] = value.detach()
        else:
            losses[name] = value
    return losses, monitored


class NoiseGANModel(NoiseBaseModel):
    """The GAN base of NTGAN, PNGAN and NoiseTransfer: BasicSR's ``SRGANModel`` made device-agnostic, with the
    generator and discriminator steps as small methods (mmagic's ``g_step`` / ``d_step``) that a method overrides
    instead of copying ``optimize_parameters``.

    Options, as BasicSR's: ``network_d`` (required), ``path.pretrain_network_d``, ``path.param_key_d``,
    ``path.strict_load_d``; ``train.optim_d`` (any ``torch.optim`` class), ``train.gan_opt`` (BasicSR's ``GANLoss``:
    vanilla, lsgan, wgan, wgan_softplus, hinge), ``train.pixel_opt``, ``train.perceptual_opt``,
    ``train.net_d_iters`` (a generator step every this many iterations, default 1) and ``train.net_d_init_iters``
    (discriminator-only iterations at the start, default 0); ``train.ema_decay`` for an EMA of G;
    ``train.log_grad_norms`` (default false) logs, for each generator term, the norm of its gradient with respect to
    the generated image as ``out_g_grad_<name>`` (which term drives the generator; one extra backward through the
    losses per term). Every step runs under the model's autocast (``train.use_amp``); the GradScaler steps each
    optimizer it scaled and is updated once per iteration. Logs: ``l_g_*`` (the generator's terms, ``l_g_total``),
    ``l_d_real``, ``l_d_fake``, ``out_d_real``, ``out_d_fake``.

    A method overrides the small pieces it changes:

    * :meth:`generate`: the generator's forward on the fed batch (sets ``self.output`` and what its steps need);
    * :meth:`pixel_pair`, :meth:`real_image`, :meth:`fake_image`, :meth:`d_input`: what the pixel loss compares and
      what the discriminator sees;
    * :meth:`g_losses` / :meth:`d_losses`: the terms of each step, ``{name: loss}``, each logged as ``l_g_<name>``
      / ``l_d_<name>`` (D: ``real`` and ``fake`` are averaged, other terms add); entries named ``out_<name>`` are
      monitored values, logged as ``out_g_<name>`` / ``out_d_<name>`` and not optimised;
      the defaults are SRGAN's (``pixel_opt``, ``perceptual_opt``, ``gan_opt`` on D's score of the fake; D's
      ``gan_opt`` on real and fake); :meth:`g_gan_loss` and :meth:`d_scores` are their adversarial parts (a
      relativistic loss, which compares real and fake scores, overrides these two).
    """

    # ------------------------------------------------------------------------------------------ options and setup
    @classmethod
    def check_options(cls, opt):
        super().check_options(opt)
        if not isinstance(opt.get('network_d'), dict):
            raise ValueError(f'{cls.__name__} needs network_d (the discriminator).')
        train = opt.get('train')
        if not opt.get('is_train', True) or not isinstance(train, dict):
            return  # a test-time option file
        for key, what in (('optim_d', 'the discriminator optimizer'), ('gan_opt', 'the adversarial loss')):
            if not isinstance(train.get(key), dict):
                raise ValueError(f'{cls.__name__} needs train.{key} ({what}).')
        if int(train.get('net_d_iters', 1)) < 1 or int(train.get('net_d_init_iters', 0)) < 0:
            raise ValueError('train.net_d_iters must be at least 1 and train.net_d_init_iters at least 0.')

    def init_training_settings(self):
        self.setup_amp()
        train_opt = self.opt['train']
        self.ema_decay = train_opt.get('ema_decay', 0)
        if self.ema_decay > 0:
            self.net_g_ema = build_network(self.opt['network_g']).to(self.device)
            load_path = self.opt['path'].get('pretrain_network_g')
            if load_path is not None:
                self.load_network(self.net_g_ema, load_path, self.opt['path'].get('strict_load_g', True), 'params_ema')
            else:
                self.model_ema(0)
            self.net_g_ema.eval()
        self.net_d = self.model_to_device(build_network(self.opt['network_d']))
        self.print_network(self.net_d)
        load_path = self.opt['path'].get('pretrain_network_d')
        if load_path is not None:
            self.load_network(self.net_d, load_path, self.opt['path'].get('strict_load_d', True),
                              self.opt['path'].get('param_key_d', 'params'))
        self.net_g.train()
        self.net_d.train()
        self.build_losses(train_opt)
        self.net_d_iters = int(train_opt.get('net_d_iters', 1))
        self.net_d_init_iters = int(train_opt.get('net_d_init_iters', 0))
        self.log_grad_norms = bool(train_opt.get('log_grad_norms', False))
        self.setup_optimizers()
        self.setup_schedulers()

    def build_losses(self, train_opt):
        """``cri_pix``, ``cri_perceptual`` (None when not configured) and ``cri_gan`` from the train options."""
        self.cri_pix = build_loss(train_opt['pixel_opt']).to(self.device) if train_opt.get('pixel_opt') else None
        self.cri_perceptual = (
            build_loss(train_opt['perceptual_opt']).to(self.device) if train_opt.get('perceptual_opt') else None)
        self.cri_gan = build_loss(train_opt['gan_opt']).to(self.device)

    def generator_parameters(self):
        return [p for p in self.net_g.parameters() if p.requires_grad]

    def discriminator_parameters(self):
        return [p for p in self.net_d.parameters() if p.requires_grad]

    def setup_optimizers(self):
        train_opt = self.opt['train']
        for name, params in (('g', self.generator_parameters()), ('d', self.discriminator_parameters())):
            optim_opt = dict(train_opt[f'optim_{name}'])
            optimizer = self.get_optimizer(optim_opt.pop('type'), params, **optim_opt)
            setattr(self, f'optimizer_{name}', optimizer)
            self.optimizers.append(optimizer)
        # frozen in the G step (:meth:`frozen_discriminator`), trained in the D step
        self.d_params = [p for group in self.optimizer_d.param_groups for p in group['params']]

    @contextmanager
    def frozen_discriminator(self):
        """D's parameters need no gradient inside the block (the G step's passes through D)."""
        for p in self.d_params:
            p.requires_grad_(False)
        try:
            yield
        finally:
            for p in self.d_params:
                p.requires_grad_(True)

    # ------------------------------------------------------------------------------------------ the steps
    def generate(self):
        """The generator's forward on the fed batch; sets ``self.output``."""
        self.output = self.net_g(self.lq)

    def pixel_pair(self):
        """``(prediction, target)`` of the pixel and perceptual losses: the output and ``gt``."""
        return self.output, self.gt

    def real_image(self):
        """The real sample of the discriminator: ``gt``."""
        return self.gt

    def fake_image(self):
        """The generated sample of the discriminator: the output."""
        return self.output

    def d_input(self, image, real):
        """What D sees for an image (``real``: from the data, else generated); conditional GANs concatenate here."""
        return image

    def g_losses(self):
        losses = OrderedDict()
        prediction, target = self.pixel_pair()
        if self.cri_pix is not None:
            losses['pix'] = self.cri_pix(prediction.float(), target)
        if self.cri_perceptual is not None:
            percep, style = self.cri_perceptual(prediction.float(), target)
            for name, value in (('percep', percep), ('style', style)):
                if value is not None:
                    losses[name] = value
        losses['gan'] = self.g_gan_loss()
        return losses

    def g_gan_loss(self):
        """The generator's adversarial term: ``gan_opt`` on D's score of the fake, labelled real."""
        return self.cri_gan(self.net_d(self.d_input(self.fake_image(), False)), True, is_disc=False)

    def d_scores(self):
        """D's scores of the real and the (detached) fake sample."""
        real_d = self.net_d(self.d_input(self.real_image(), True))
        fake_d = self.net_d(self.d_input(self.fake_image().detach(), False))
        return real_d, fake_d

    def d_losses(self):
        real_d, fake_d = self.d_scores()
        return OrderedDict(
            real=self.cri_gan(real_d, True, is_disc=True),
            fake=self.cri_gan(fake_d, False, is_disc=True),
            out_real=real_d.detach().mean(),
            out_fake=fake_d.detach().mean())

    def g_step(self, current_iter, log):
        """One generator update; its terms are logged as ``l_g_<name>`` and ``l_g_total``."""
        self.optimizer_g.zero_grad(set_to_none=True)
        with self.autocast():
            losses, monitored = _split_monitored(self.g_losses())
            total = sum(losses.values())
        if self.log_grad_norms:
            log.update(self.grad_norms_at_output(losses))
        self.scaler.scale(total).backward()
        self.scaler.step(self.optimizer_g)
        log.update((f'l_g_{name}', value.detach()) for name, value in losses.items())
        log['l_g_total'] = total.detach()
        log.update((f'out_g_{name}', value) for name, value in monitored.items())

    def grad_norms_at_output(self, losses):
        """``{out_g_grad_<name>: ||d loss / d output||}`` for each generator term (zero for a term that does not
        reach ``self.output``)."""
        norms = OrderedDict()
        for name, value in losses.items():
            grad = None
            if value.requires_grad:
                grad, = torch.autograd.grad(value, self.output, retain_graph=True, allow_unused=True)
            norms[f'out_g_grad_{name}'] = grad.float().norm() if grad is not None else self.output.new_zeros(())
        return norms

    def d_step(self, current_iter, log):
        """One discriminator update: ``(real + fake) / 2``, each logged (``l_d_real``, ``l_d_fake``)."""
        self.optimizer_d.zero_grad(set_to_none=True)
        with self.autocast():
            losses, monitored = _split_monitored(self.d_losses())
            real, fake = losses.pop('real'), losses.pop('fake')
            total = (real + fake) / 2 + sum(losses.values())  # other terms (e.g. a contrastive loss) add in full
        self.scaler.scale(total).backward()
        self.scaler.step(self.optimizer_d)
        log['l_d_real'], log['l_d_fake'] = real.detach(), fake.detach()
        log.update((f'l_d_{name}', value.detach()) for name, value in losses.items())
        log.update((f'out_d_{name}', value) for name, value in monitored.items())

    def optimize_parameters(self, current_iter):
        log = OrderedDict()
        step_g = current_iter % self.net_d_iters == 0 and current_iter > self.net_d_init_iters
        with self.autocast(), torch.set_grad_enabled(step_g):
            self.generate()
        if step_g:
            with self.frozen_discriminator():
                self.g_step(current_iter, log)
        self.d_step(current_iter, log)
        self.scaler.update()
        if self.ema_decay > 0:
            self.model_ema(decay=self.ema_decay)
        self.log_dict = self.reduce_loss_dict(log)

    # ------------------------------------------------------------------------------------------ checkpoints
    def save(self, epoch, current_iter):
        if hasattr(self, 'net_g_ema'):
            self.save_network([self.net_g, self.net_g_ema], 'net_g', current_iter, param_key=['params', 'params_ema'])
        else:
            self.save_network(self.net_g, 'net_g', current_iter)
        self.save_network(self.net_d, 'net_d', current_iter)
        self.save_training_state(epoch, current_iter)
