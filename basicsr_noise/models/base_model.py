import inspect
import numpy as np
import random
import torch
from basicsr.metrics import calculate_metric
from basicsr.models import lr_scheduler as basicsr_lr_scheduler
from basicsr.models.sr_model import SRModel
from basicsr.utils import get_root_logger, imwrite, tensor2img
from basicsr.utils.dist_util import master_only
from basicsr.utils.registry import METRIC_REGISTRY
from collections import OrderedDict
from contextlib import nullcontext
from os import path as osp
from torch.nn.parallel import DataParallel, DistributedDataParallel
from tqdm import tqdm

from basicsr_noise.utils.atomic import atomic_torch_save
from basicsr_noise.utils.options import plain
from basicsr_noise.utils.suggest import did_you_mean
from basicsr_noise.utils.tiling import tiled_forward

BEST_LABEL = 'best'  # val.save_best: models/<net>_best.pth


def metric_inputs(metric_type):
    """The image arguments a registered metric takes: ``img``, ``img2`` (the ground truth), ``img_<visual>``."""
    return [p for p in inspect.signature(METRIC_REGISTRY.get(metric_type)).parameters if p.startswith('img')]


class NoiseBaseModel(SRModel):
    """Base class of the basicsr-noise models; fixes what basicsr 1.4.2's ``BaseModel``/``SRModel`` lack.

    * device from ``num_gpu`` (0 = CPU), DDP on CPU (gloo) and GPU, never ``.cuda()``;
    * any ``torch.optim`` optimizer and any ``torch.optim.lr_scheduler`` scheduler besides BasicSR's own;
    * EMA that also copies buffers (BatchNorm statistics);
    * validation with or without ground truth (reference metrics are skipped without it), optional
      per-image metric lines, tiled inference (``val.tile_size``, ``val.tile_overlap``);
    * AMP through ``torch.amp`` (``train.use_amp``) with the GradScaler in the training state;
    * a training state that holds every piece needed for an exact resume: optimizers, schedulers, the
      Python/NumPy/torch RNG states, the scaler and the model's own extras (:meth:`extra_training_state`);
    * atomic checkpoint writes, and the network options stored in each checkpoint (``meta``) so that a
      checkpoint alone is enough for ``basicsr-noise infer``.

    ``frozen_networks``: the ``network_*`` keys a model loads from their own checkpoints and never trains or saves;
    a resume keeps their paths (``basicsr_noise.compat.keep_frozen_network_paths``).

    ``batch_keys``: the keys every training batch must carry; any dataset that yields them fits. The pre-flight
    check reads one sample of ``datasets.train`` and :meth:`check_batch_keys` raises, naming the missing keys and
    ``batch_keys_hint``, as ``feed_data`` does on each batch.
    """
    frozen_networks = ()
    batch_keys = ()
    batch_keys_hint = ''

    def __init__(self, opt):
        if opt.get('num_gpu', 0) != 0 and not torch.cuda.is_available():
            raise RuntimeError(f'num_gpu is {opt["num_gpu"]} but CUDA is not available; set num_gpu: 0 for CPU.')
        self.__class__.check_options(opt)
        self.read_options(opt)
        super().__init__(opt)

    @classmethod
    def check_options(cls, opt):
        """Validate the model's own options before anything is built, writing their defaults into ``opt`` (see
        :func:`method_options`); raise ``ValueError`` naming the key. The pre-flight check calls it on a copy."""

    @classmethod
    def check_networks(cls, opt):
        """Pre-flight only (not at set-up, where the networks are built anyway): build what a cheap check of the
        networks needs and raise ``ValueError`` naming the key when they do not fit the data."""

    def read_options(self, opt):
        """Read the checked method options into attributes, before the networks are built."""

    @classmethod
    def check_batch_keys(cls, batch, source='the training batch'):
        """Raise ``ValueError`` when ``batch`` (a batch or one dataset sample) lacks one of :attr:`batch_keys`."""
        missing = [key for key in cls.batch_keys if key not in batch]
        if missing:
            raise ValueError(f'{cls.__name__} needs {", ".join(cls.batch_keys)} in each batch, but {source} has no '
                             f'{", ".join(missing)}. {cls.batch_keys_hint}'.rstrip())

    # ------------------------------------------------------------------ devices, optimizers, schedulers
    def model_to_device(self, net):
        net = net.to(self.device)
        if self.opt['dist']:
            find_unused = self.opt.get('find_unused_parameters', False)
            device_ids = [torch.cuda.current_device()] if self.device.type == 'cuda' else None
            net = DistributedDataParallel(net, device_ids=device_ids, find_unused_parameters=find_unused)
        elif self.opt['num_gpu'] > 1:
            net = DataParallel(net)
        return net

    def get_optimizer(self, optim_type, params, lr, **kwargs):
        optim_cls = getattr(torch.optim, optim_type, None)
        if not (inspect.isclass(optim_cls) and issubclass(optim_cls, torch.optim.Optimizer)):
            raise ValueError(f'Unknown optimizer type {optim_type!r}: use a class of torch.optim (Adam, AdamW, ...).')
        return optim_cls(params, lr, **kwargs)

    def setup_schedulers(self):
        scheduler_opt = dict(self.opt['train']['scheduler'])
        scheduler_type = scheduler_opt.pop('type')
        if scheduler_type in ('MultiStepLR', 'MultiStepRestartLR'):
            scheduler_cls = basicsr_lr_scheduler.MultiStepRestartLR
        elif hasattr(basicsr_lr_scheduler, scheduler_type):
            scheduler_cls = getattr(basicsr_lr_scheduler, scheduler_type)
        elif hasattr(torch.optim.lr_scheduler, scheduler_type):
            scheduler_cls = getattr(torch.optim.lr_scheduler, scheduler_type)
        else:
            raise ValueError(f'Unknown scheduler type {scheduler_type!r} in train.scheduler.')
        for optimizer in self.optimizers:
            self.schedulers.append(scheduler_cls(optimizer, **scheduler_opt))

    # ------------------------------------------------------------------ EMA
    @torch.no_grad()
    def model_ema(self, decay=0.999):
        net_g = self.get_bare_model(self.net_g)
        ema_params = dict(self.net_g_ema.named_parameters())
        for name, param in net_g.named_parameters():
            ema_params[name].mul_(decay).add_(param, alpha=1 - decay)
        ema_buffers = dict(self.net_g_ema.named_buffers())
        for name, buf in net_g.named_buffers():
            ema_buffers[name].copy_(buf)

    # ------------------------------------------------------------------ AMP and the optimisation step
    def init_training_settings(self):
        self.setup_amp()
        super().init_training_settings()

    def setup_amp(self):
        """``train.use_amp`` / ``train.amp_dtype``: autocast dtype, and a GradScaler for float16 on CUDA."""
        train_opt = self.opt['train']
        self.use_amp = bool(train_opt.get('use_amp', False))
        self.amp_dtype = getattr(torch,
                                 train_opt.get('amp_dtype', 'float16' if self.device.type == 'cuda' else 'bfloat16'))
        self.scaler = torch.amp.GradScaler(
            self.device.type, enabled=self.use_amp and self.device.type == 'cuda' and self.amp_dtype == torch.float16)

    def autocast(self):
        """Autocast context for the forward pass when ``train.use_amp`` is set."""
        if getattr(self, 'use_amp', False):
            return torch.amp.autocast(self.device.type, dtype=self.amp_dtype)
        return nullcontext()

    def backward_and_step(self, loss, optimizer):
        """Backward pass and optimizer step through the GradScaler (a no-op scaler without AMP)."""
        self.scaler.scale(loss).backward()
        self.scaler.step(optimizer)
        self.scaler.update()

    def optimize_parameters(self, current_iter):
        self.optimizer_g.zero_grad(set_to_none=True)
        with self.autocast():
            self.output = self.net_g(self.lq)
            l_total = 0
            loss_dict = OrderedDict()
            if self.cri_pix:
                l_pix = self.cri_pix(self.output.float(), self.gt)
                l_total += l_pix
                loss_dict['l_pix'] = l_pix
            if self.cri_perceptual:
                l_percep, l_style = self.cri_perceptual(self.output.float(), self.gt)
                for name, value in (('l_percep', l_percep), ('l_style', l_style)):
                    if value is not None:
                        l_total += value
                        loss_dict[name] = value
        self.backward_and_step(l_total, self.optimizer_g)
        self.log_dict = self.reduce_loss_dict(loss_dict)
        if self.ema_decay > 0:
            self.model_ema(decay=self.ema_decay)

    # ------------------------------------------------------------------ inference
    def tiled(self, fn, x):
        """``fn(x)`` without gradients, over tiles when ``val.tile_size`` is set (``tile_overlap``, ``tile_batch``)."""
        val_opt = self.opt.get('val') or {}
        with torch.no_grad():
            return tiled_forward(fn, x, val_opt.get('tile_size'), val_opt.get('tile_overlap', 32),
                                 val_opt.get('tile_batch', 4))

    def test_network(self):
        """The network that tests: the EMA of ``net_g`` when there is one."""
        return self.net_g_ema if hasattr(self, 'net_g_ema') else self.net_g

    def inference(self, x):
        """Run the test network in eval mode on ``x`` without gradients, tiled when ``val.tile_size`` is set."""
        net = self.test_network()
        was_training = net.training
        net.eval()
        out = self.tiled(net, x)
        net.train(was_training)
        return out

    def feed_val_data(self, data):
        """Feed a validation / test batch; models whose ``feed_data`` synthesises training pairs override this."""
        self.feed_data(data)

    def test(self):
        self.output = self.inference(self.lq)

    # ------------------------------------------------------------------ validation
    def nondist_validation(self, dataloader, current_iter, tb_logger, save_img):
        dataset_name = dataloader.dataset.opt['name']
        val_opt = self.opt['val']
        metrics_opt = val_opt.get('metrics') or {}
        per_image = val_opt.get('per_image_metrics', not self.opt['is_train'])
        logger = get_root_logger()
        if metrics_opt:
            self._initialize_best_metric_results(dataset_name)
        sums = {name: 0. for name in metrics_opt}
        counts = {name: 0 for name in metrics_opt}
        pbar = tqdm(total=len(dataloader), unit='image') if val_opt.get('pbar', False) else None

        for val_data in dataloader:
            img_name = osp.splitext(osp.basename(val_data['lq_path'][0]))[0]
            self._clear_batch()  # a training target left in self.gt must not be scored as ground truth
            self.feed_val_data(val_data)
            self.test()
            visuals = self.get_current_visuals()
            extra_results = getattr(self, 'extra_results', ())
            # img: the result; img2: the ground truth; img_<key>: any other visual (e.g. a generator's clean input)
            metric_data = {'img': tensor2img([visuals['result']])}
            metric_data.update({
                ('img2' if key == 'gt' else f'img_{key}'): tensor2img([value])
                for key, value in visuals.items() if key != 'result' and key not in extra_results
            })
            extra_images = {key: tensor2img([visuals[key]]) for key in extra_results}
            self._clear_batch()

            if save_img:
                self._save_validation_image(metric_data['img'], img_name, dataset_name, current_iter)
                for key, img in extra_images.items():
                    self._save_validation_image(img, img_name, dataset_name, current_iter, tag=key)
            values = {}
            for name, metric_opt in metrics_opt.items():
                inputs = metric_inputs(metric_opt['type'])
                if any(key not in metric_data for key in inputs):  # e.g. no ground truth: reference metrics skip
                    continue
                data = {key: metric_data[key] for key in inputs}
                values[name] = calculate_metric(data, metric_opt)
                for key, img in extra_images.items():  # e.g. DBSN's raw estimate, reported as mu_<metric>
                    values[f'{key}_{name}'] = calculate_metric(dict(data, img=img), metric_opt)
            for name, value in values.items():
                sums[name] = sums.get(name, 0.) + value
                counts[name] = counts.get(name, 0) + 1
            if per_image and values:
                logger.info(f'{dataset_name} {img_name}: ' + ', '.join(f'{k} {v:.4f}' for k, v in values.items()))
            if pbar:
                pbar.update(1)
                pbar.set_description(f'Test {img_name}')
        if pbar:
            pbar.close()

        skipped = [name for name in metrics_opt if counts[name] == 0]
        if skipped:
            logger.warning(f'Validation {dataset_name}: metrics skipped for lack of the images they compare (no '
                           f'ground truth?): {skipped}.')
        self.metric_results = {name: sums[name] / counts[name] for name in sums if counts[name]}
        records = self.best_metric_results[dataset_name] if metrics_opt else {}
        for name, value in self.metric_results.items():
            if name not in records:  # extra results get a record like their metric's
                base = records[name.split('_', 1)[1]]
                records[name] = dict(
                    better=base['better'], val=float('-inf' if base['better'] == 'higher' else 'inf'), iter=-1)
            self._update_best_metric_result(dataset_name, name, value, current_iter)
        if self.metric_results:
            self._log_validation_metric_values(current_iter, dataset_name, tb_logger)
        self.keep_best_checkpoint(dataset_name, current_iter)

    # ------------------------------------------------------------------ the best checkpoint (val.save_best)
    def keep_best_checkpoint(self, dataset_name, current_iter):
        """``val.save_best: {metric, mode, dataset}``: when this validation's ``metric`` is the best so far (``min``
        or ``max``), save every network as ``<net>_best.pth``, its ``meta.best`` the record (metric, mode, value,
        iteration, dataset). The record is in the training state, so a resumed run keeps it."""
        best_opt = (self.opt.get('val') or {}).get('save_best')
        if not best_opt or not self.opt['is_train'] or best_opt.get('dataset', dataset_name) != dataset_name:
            return
        name, mode = best_opt['metric'], best_opt.get('mode', 'max')
        if name not in self.metric_results:
            get_root_logger().warning(f'val.save_best: validation {dataset_name} did not compute {name}; no best '
                                      'checkpoint kept.')
            return
        value = float(self.metric_results[name])
        if not improves(value, getattr(self, 'best_checkpoint', None), mode):
            return
        self.best_checkpoint = dict(metric=name, mode=mode, value=value, iter=int(current_iter), dataset=dataset_name)
        self.save(-1, BEST_LABEL)
        get_root_logger().info(f'Best {name} so far ({value:.4f} at iteration {current_iter}): saved the '
                               f'{BEST_LABEL} checkpoints.')

    def _clear_batch(self):
        for attr in ('lq', 'gt', 'output'):
            if hasattr(self, attr):
                delattr(self, attr)

    def _save_validation_image(self, img, img_name, dataset_name, current_iter, tag=None):
        """BasicSR's file names; an extra result (``tag``, e.g. DBSN's ``mu``) gets ``_<tag>`` appended."""
        tail = f'_{tag}' if tag else ''
        if self.opt['is_train']:
            save_path = osp.join(self.opt['path']['visualization'], img_name, f'{img_name}_{current_iter}{tail}.png')
        else:
            suffix = self.opt['val'].get('suffix') or self.opt['name']
            save_path = osp.join(self.opt['path']['visualization'], dataset_name, f'{img_name}_{suffix}{tail}.png')
        imwrite(img, save_path)

    # ------------------------------------------------------------------ checkpoints and training state
    @master_only
    def save_network(self, net, net_label, current_iter, param_key='params'):
        iter_label = 'latest' if current_iter == -1 else current_iter
        save_path = osp.join(self.opt['path']['models'], f'{net_label}_{iter_label}.pth')
        nets = net if isinstance(net, list) else [net]
        param_keys = param_key if isinstance(param_key, list) else [param_key]
        if len(nets) != len(param_keys):
            raise ValueError('save_network: the lengths of net and param_key differ.')
        save_dict = {}
        meta = self.checkpoint_meta(net_label)
        if current_iter == BEST_LABEL:
            meta = dict(meta, best=dict(self.best_checkpoint))
        for net_, key in zip(nets, param_keys):
            state_dict = self.get_bare_model(net_).state_dict()
            save_dict[key] = OrderedDict(
                (k[7:] if k.startswith('module.') else k, v.cpu()) for k, v in state_dict.items())
        if meta:
            save_dict['meta'] = meta
        atomic_torch_save(save_dict, save_path)

    def checkpoint_meta(self, net_label):
        """What a checkpoint of ``net_label`` stores besides its weights: its network options
        (``{'network_g': ...}``), so that the checkpoint alone rebuilds the network."""
        network_opt = self.opt.get('network_' + net_label[len('net_'):]) if net_label.startswith('net_') else None
        return {} if network_opt is None else {'network_' + net_label[len('net_'):]: plain(network_opt)}

    def init_noise_generator(self):
        """``self.noise_generator``: a generator on the model's device for the noise a model draws in training,
        seeded ``manual_seed + rank`` and kept in the training state, so that a resumed run draws the same noise."""
        self.noise_generator = torch.Generator(device=self.device)
        self.noise_generator.manual_seed(rank_seed(self.opt))

    def extra_training_state(self):
        """Model-specific pieces of the training state (generators, queues, ...): a dict of tensors/primitives."""
        state = {'noise_generator': self.noise_generator.get_state()} if hasattr(self, 'noise_generator') else {}
        if getattr(self, 'best_checkpoint', None) is not None:
            state['best_checkpoint'] = dict(self.best_checkpoint)
        return state

    def load_extra_training_state(self, extra):
        """Restore what :meth:`extra_training_state` returned."""
        if 'noise_generator' in extra and hasattr(self, 'noise_generator'):
            self.noise_generator.set_state(extra['noise_generator'].cpu())
        if 'best_checkpoint' in extra:
            self.best_checkpoint = dict(extra['best_checkpoint'])

    @master_only
    def save_training_state(self, epoch, current_iter):
        if current_iter in (-1, BEST_LABEL):  # the best checkpoints are networks only
            return
        np_state = np.random.get_state()
        state = {
            'epoch': epoch,
            'iter': current_iter,
            'optimizers': [o.state_dict() for o in self.optimizers],
            'schedulers': [s.state_dict() for s in self.schedulers],
            'scaler': self.scaler.state_dict() if hasattr(self, 'scaler') else None,
            'rng': {
                'python': random.getstate(),
                'numpy': (np_state[0], torch.from_numpy(np_state[1].copy()), *np_state[2:]),
                'torch': torch.get_rng_state(),
                'cuda': torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None,
            },
            'extra': self.extra_training_state(),
        }
        atomic_torch_save(state, osp.join(self.opt['path']['training_states'], f'{current_iter}.state'))

    def resume_training(self, resume_state):
        super().resume_training(resume_state)
        if resume_state.get('scaler') is not None and hasattr(self, 'scaler'):
            self.scaler.load_state_dict(resume_state['scaler'])
        rng = resume_state.get('rng')
        if rng is not None:
            random.setstate(rng['python'])
            name, keys, *rest = rng['numpy']
            np.random.set_state((name, keys.cpu().numpy().astype(np.uint32), *rest))
            torch.set_rng_state(rng['torch'].cpu())
            if rng.get('cuda') is not None and torch.cuda.is_available():
                torch.cuda.set_rng_state_all([s.cpu() for s in rng['cuda']])
        self.load_extra_training_state(resume_state.get('extra') or {})
        self.recover_best_record(int(resume_state['iter']))

    def recover_best_record(self, resume_iter):
        """The ``val.save_best`` record of a resumed run. BasicSR saves the training state of an iteration before
        validating it, so the state's record can miss that validation; the best checkpoint on disk has it in its
        meta (kept when it is better and not from past the resume point)."""
        best_path = osp.join(self.opt['path']['models'], f'net_g_{BEST_LABEL}.pth')
        if not (self.opt.get('val') or {}).get('save_best') or not osp.isfile(best_path):
            return
        on_disk = (torch.load(best_path, map_location='cpu', weights_only=True).get('meta') or {}).get('best')
        if on_disk is None or on_disk['iter'] > resume_iter:
            return
        if improves(on_disk['value'], getattr(self, 'best_checkpoint', None), on_disk['mode']):
            self.best_checkpoint = dict(on_disk)


def improves(value, record, mode):
    """Whether ``value`` beats a ``val.save_best`` record (none yet: it does), ``mode`` min or max."""
    return record is None or (value < record['value'] if mode == 'min' else value > record['value'])


def method_options(opt, section, defaults):
    """The option section ``opt[section]`` with its unknown keys rejected and ``defaults`` filled in (written back).

    Defaults of a method are written here once, by its ``check_options``; the model reads ``opt[section]`` after.
    """
    given = opt.get(section) or {}
    if not isinstance(given, dict):
        raise ValueError(f'{section} must be a mapping of options, got {given!r}.')
    check_known_keys(given, section, set(defaults))
    opt[section] = {**defaults, **given}
    return opt[section]


def check_known_keys(section, where, known):
    """Raise ``ValueError`` for the first key of an option section that is not in ``known``, with a suggestion."""
    for key in section or {}:
        if key not in known:
            raise ValueError(f'Unknown option {where}.{key}.{did_you_mean(key, sorted(known))} Known keys: '
                             f'{", ".join(sorted(known))}.')


def rank_seed(opt):
    """Seed for a per-process generator: ``manual_seed + rank``, as BasicSR seeds its global RNGs."""
    return int(opt.get('manual_seed') or 0) + int(opt.get('rank', 0))
