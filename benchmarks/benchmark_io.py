"""Shared benchmark helpers: results as JSON under docs/results, an in-memory training set, BasicSR's loop timing."""
import basicsr_noise  # noqa: F401  # isort: skip  (first: basicsr 1.4.2 needs its shims)
import datetime
import glob
import json
import os
import torch
from basicsr.utils.registry import DATASET_REGISTRY
from os import path as osp
from torch.utils import data as data


def save_results(results, out):
    os.makedirs(osp.dirname(osp.abspath(out)), exist_ok=True)
    with open(out, 'w') as f:
        json.dump(results, f, indent=2)
    print(json.dumps(results, indent=2))


@DATASET_REGISTRY.register()
class InMemoryPatchBenchmarkDataset(data.Dataset):
    """Random patches held in memory (benchmark only), so that decoding does not blur the framework's overhead."""

    def __init__(self, opt):
        self.opt = opt
        g = torch.Generator().manual_seed(0)
        self.patches = torch.rand(opt['num_patches'], 3, opt['gt_size'], opt['gt_size'], generator=g)

    def __getitem__(self, index):
        return {'lq': self.patches[index], 'lq_path': f'{int(index)}.png'}

    def __len__(self):
        return len(self.patches)


def _log_seconds(line):
    return datetime.datetime.strptime(line[:23], '%Y-%m-%d %H:%M:%S,%f').timestamp()


def basicsr_seconds_per_iter(work, name, iters):
    """Seconds per iteration of a finished ``basicsr train`` run: from its "Start training" to its "End of
    training" log line."""
    log = open(sorted(glob.glob(osp.join(work, 'experiments', name, 'train_*.log')))[-1]).read().splitlines()
    start = next(_log_seconds(line) for line in log if 'Start training from' in line)
    end = next(_log_seconds(line) for line in log if 'End of training' in line)
    return (end - start) / iters
