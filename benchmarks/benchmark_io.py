"""Writing benchmark results: one JSON file per benchmark under docs/results, echoed to stdout."""
import json
import os
from os import path as osp


def save_results(results, out):
    os.makedirs(osp.dirname(osp.abspath(out)), exist_ok=True)
    with open(out, 'w') as f:
        json.dump(results, f, indent=2)
    print(json.dumps(results, indent=2))
