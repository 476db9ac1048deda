"""Make basicsr 1.4.2 run on current torch, torchvision, OpenCV and on CPU, without patching site-packages.

Two layers, both idempotent:

* :func:`install_import_shims` must run before the first ``import basicsr``: basicsr 1.4.2 imports
  ``torchvision.transforms.functional_tensor``, which torchvision removed in 0.17. ``import basicsr_noise`` runs it,
  and that is the only thing the import changes outside this package.
* :func:`apply` replaces module globals that ``basicsr.train.train_pipeline`` and
  ``basicsr.utils.options.parse_options`` look up at call time. The ``basicsr-noise`` command calls it; code that
  runs BasicSR's own ``train_pipeline`` / ``test_pipeline`` calls it once before (``basicsr_noise.compat.apply()``):

  - ``load_resume_state``: CPU-safe ``map_location``, looks for states under the experiment root (not the
    current directory), and remembers the state so that the data position can be restored;
  - ``create_train_val_dataloader`` + ``EnlargedSampler``: on resume, skip the samples the interrupted epoch
    already consumed, so that resumed training sees the same batches as an uninterrupted run;
  - ``init_dist``: the pytorch launcher honours ``dist_params.backend`` and runs on CPU with gloo;
  - ``add_jpg_compression``: integer JPEG quality, which OpenCV >= 4.8 requires.

``--local-rank`` (passed by ``torch.distributed.launch``) is rewritten by the CLI, see :mod:`basicsr_noise.cli`.
"""
import math
import os
import sys
import torch
import types

_state = {'shims': False, 'patches': False, 'dist_backend': None, 'resume_state': None}
ORIGINALS = {}


def install_import_shims():
    """Provide ``torchvision.transforms.functional_tensor`` when torchvision no longer has it."""
    if _state['shims']:
        return
    try:
        import torchvision.transforms.functional_tensor  # noqa: F401
    except ImportError:
        import torchvision.transforms.functional as tv_functional
        shim = types.ModuleType('torchvision.transforms.functional_tensor')
        shim.rgb_to_grayscale = tv_functional.rgb_to_grayscale
        sys.modules['torchvision.transforms.functional_tensor'] = shim
    _state['shims'] = True


def set_dist_backend(backend):
    """Backend used by the pytorch launcher (``dist_params.backend``); ``None`` picks nccl on GPU, gloo on CPU."""
    _state['dist_backend'] = backend


def init_dist(launcher, backend=None, **kwargs):
    """Replacement for ``basicsr.utils.dist_util.init_dist`` that works without CUDA.

    Args:
        launcher (str): ``pytorch`` (torchrun) or ``slurm``.
        backend (str | None): Process-group backend. Default: ``dist_params.backend`` from the option file,
            else nccl when CUDA is available and gloo otherwise.
    """
    import torch.distributed as dist
    import torch.multiprocessing as mp
    from basicsr.utils import dist_util

    if mp.get_start_method(allow_none=True) is None:
        mp.set_start_method('spawn')
    backend = backend or _state['dist_backend'] or ('nccl' if torch.cuda.is_available() else 'gloo')
    if launcher == 'pytorch':
        if torch.cuda.is_available() and backend == 'nccl':
            local_rank = int(os.environ.get('LOCAL_RANK', os.environ['RANK']))
            torch.cuda.set_device(local_rank % torch.cuda.device_count())
        dist.init_process_group(backend=backend, **kwargs)
    elif launcher == 'slurm':
        dist_util._init_dist_slurm(backend, **kwargs)
    else:
        raise ValueError(f'Invalid launcher type: {launcher}')


def keep_frozen_network_paths(opt):
    """Add the model's ``frozen_networks`` (loaded from their own checkpoints and never trained, so never saved in
    the experiment: a distillation teacher, PNGAN's D_d) to ``path.ignore_resume_networks``, so that BasicSR's
    resume keeps their paths instead of pointing them at checkpoints that do not exist."""
    from basicsr.utils.registry import MODEL_REGISTRY
    model_type = opt.get('model_type')
    if model_type not in MODEL_REGISTRY:
        return  # BasicSR's own check names an unknown model later
    frozen = getattr(MODEL_REGISTRY.get(model_type), 'frozen_networks', ())
    ignore = list(opt['path'].get('ignore_resume_networks') or [])
    opt['path']['ignore_resume_networks'] = ignore + [n for n in frozen if n not in ignore]


def load_resume_state(opt):
    """Replacement for ``basicsr.train.load_resume_state``: CPU-safe and rooted at the experiment folder."""
    from basicsr.utils.misc import check_resume

    state_path = None
    if opt['auto_resume']:
        state_dir = opt['path']['training_states']
        if os.path.isdir(state_dir):
            iters = [int(f[:-len('.state')]) for f in os.listdir(state_dir)
                     if f.endswith('.state') and f[:-len('.state')].isdigit()]
            if iters:
                state_path = os.path.join(state_dir, f'{max(iters)}.state')
                opt['path']['resume_state'] = state_path
    else:
        state_path = opt['path'].get('resume_state')

    _state['resume_state'] = None
    if state_path is None:
        return None
    if not os.path.isfile(state_path):
        raise FileNotFoundError(f'path.resume_state: training state {state_path} does not exist.')
    if opt.get('num_gpu', 0) != 0 and torch.cuda.is_available():
        map_location = f'cuda:{torch.cuda.current_device()}'
    else:
        map_location = 'cpu'
    # Our own training states; they may hold RNG states that the weights_only unpickler refuses.
    resume_state = torch.load(state_path, map_location=map_location, weights_only=False)
    keep_frozen_network_paths(opt)
    check_resume(opt, resume_state['iter'])
    _state['resume_state'] = resume_state
    return resume_state


class SampleIndex(int):
    """A dataset index that also carries ``draw``: the sample's position in the whole training stream.

    Datasets that seed their augmentation from ``draw`` draw the same crops in a resumed run as in an
    uninterrupted one, also with several workers and when ``dataset_enlarge_ratio`` repeats an index.
    Other datasets see a plain ``int``.
    """

    def __new__(cls, value, draw):
        obj = super().__new__(cls, value)
        obj.draw = draw
        return obj

    def __getnewargs__(self):
        return int(self), self.draw


def _make_resumable_sampler_class():
    from basicsr.data.data_sampler import EnlargedSampler

    class ResumableEnlargedSampler(EnlargedSampler):
        """``EnlargedSampler`` (same order) that yields :class:`SampleIndex` and can skip the head of one epoch.

        The skip holds for every iterator made during epoch ``skip_epoch`` (``CPUPrefetcher`` makes one before the
        epoch loop and another at the epoch's start) and is dropped once another epoch is set.
        """

        skip = 0
        skip_epoch = None

        def set_epoch(self, epoch):
            super().set_epoch(epoch)
            if epoch != self.skip_epoch:
                self.skip, self.skip_epoch = 0, None

        def __iter__(self):
            generator = torch.Generator()
            generator.manual_seed(self.epoch)
            order = torch.randperm(self.total_size, generator=generator).tolist()
            size = len(self.dataset)
            positions = range(self.rank, self.total_size, self.num_replicas)
            indices = [SampleIndex(order[p] % size, self.epoch * self.total_size + p) for p in positions]
            return iter(indices[self.skip if self.epoch == self.skip_epoch else 0:])

    return ResumableEnlargedSampler


def create_train_val_dataloader(opt, logger):
    """Wrap basicsr's loader factory.

    * basicsr counts ``ceil(samples / batch)`` iterations per epoch but its loader drops the last incomplete batch,
      so training could stop before ``total_iter``; the epoch count here uses the batches the loader yields.
    * On resume, continue mid-epoch where the interrupted run stopped.
    """
    train_loader, train_sampler, val_loaders, total_epochs, total_iters = \
        ORIGINALS['create_train_val_dataloader'](opt, logger)
    resume_state, _state['resume_state'] = _state['resume_state'], None
    if train_loader is None:
        return train_loader, train_sampler, val_loaders, total_epochs, total_iters
    iters_per_epoch = len(train_loader)
    if iters_per_epoch == 0:
        raise ValueError(f'datasets.train yields no full batch of {train_loader.batch_size} per process; lower '
                         'batch_size_per_gpu or raise dataset_enlarge_ratio.')
    total_epochs = math.ceil(total_iters / iters_per_epoch)
    if resume_state is None or not hasattr(train_sampler, 'skip'):
        return train_loader, train_sampler, val_loaders, total_epochs, total_iters
    consumed = resume_state['iter'] - resume_state['epoch'] * iters_per_epoch
    if not 0 <= consumed <= iters_per_epoch:
        logger.warning(f'Resume: iter {resume_state["iter"]} is not in epoch {resume_state["epoch"]} with '
                       f'{iters_per_epoch} iters per epoch (batch size or data changed?); the epoch restarts.')
    else:
        if consumed == iters_per_epoch:  # the state was saved at the end of its epoch
            resume_state['epoch'] += 1
            consumed = 0
        train_sampler.skip_epoch = resume_state['epoch']
        train_sampler.skip = consumed * train_loader.batch_size
        logger.info(f'Resume: epoch {resume_state["epoch"]} continues after {consumed} of {iters_per_epoch} iters.')
    return train_loader, train_sampler, val_loaders, total_epochs, total_iters


def add_jpg_compression(img, quality=90):
    """JPEG round trip of a float BGR image in [0, 1] with an integer quality (OpenCV >= 4.8 rejects floats)."""
    import cv2
    import numpy as np

    img = np.clip(img, 0, 1)
    ok, encoded = cv2.imencode('.jpg', img * 255., [int(cv2.IMWRITE_JPEG_QUALITY), int(round(float(quality)))])
    if not ok:
        raise RuntimeError(f'JPEG encoding failed for an image of shape {img.shape}.')
    return np.float32(cv2.imdecode(encoded, cv2.IMREAD_COLOR)) / 255.  # as basicsr: always 3 channels


def apply():
    """Install the runtime replacements into basicsr's modules (idempotent); :data:`ORIGINALS` keeps BasicSR's."""
    if _state['patches']:
        return
    install_import_shims()
    import basicsr.data.degradations as degradations
    import basicsr.train as train
    import basicsr.utils.dist_util as dist_util
    import basicsr.utils.options as options

    ORIGINALS.update(
        load_resume_state=train.load_resume_state,
        create_train_val_dataloader=train.create_train_val_dataloader,
        init_dist=dist_util.init_dist,
        add_jpg_compression=degradations.add_jpg_compression,
        EnlargedSampler=train.EnlargedSampler)
    train.load_resume_state = load_resume_state
    train.create_train_val_dataloader = create_train_val_dataloader
    train.EnlargedSampler = _make_resumable_sampler_class()
    dist_util.init_dist = init_dist
    options.init_dist = init_dist
    degradations.add_jpg_compression = add_jpg_compression
    _state['patches'] = True


def rewrite_local_rank(argv):
    """``torch.distributed.launch`` passes ``--local-rank=N``; basicsr's parser only knows ``--local_rank``."""
    return [('--local_rank' + a[len('--local-rank'):]) if a.startswith('--local-rank') else a for a in argv]
