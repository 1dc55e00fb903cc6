#!/usr/bin/env python
# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""
Compare simulator recipes at an equal, small training budget.

Trains a width-16 model of the default's recipe (local normalisation,
band dropout 0.15, temperature scaling) on ``--n-per-class`` candidates
per class of the **checked-out** `starcnet.simulation` (seed 1, validation
seed 2), then evaluates it on 300 candidates per class of the same
recipe (seed 7001) and of ``kingsim`` (seed 7002), the development
generator.  ``popsim`` is never used here: it stays held out.  One line
of JSON per run is appended to ``--results``.

Check out the recipe to test, give it a cache folder of its own (chunks
are not keyed on the recipe), and run from the repository root::

    python scripts/recipe_ab.py --tag b1 --cache build/ab-b1 \\
        --n-per-class 3000 --epochs 6
"""

import argparse
import json
import logging
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / 'scripts'))

from _pool import simulated_set  # noqa: E402
from transfer_table import evaluate  # noqa: E402

NORMALIZATION = {'kind': 'local', 'stretch': 1.0, 'radius': 12.0}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[1])
    parser.add_argument('--tag', required=True, help='name of the recipe under test')
    parser.add_argument('--cache', required=True,
                        help="folder of this recipe's simulated chunks")
    parser.add_argument('--kingsim-cache', default=str(ROOT / 'build' / 'transfer' / 'sets'))
    parser.add_argument('--n-per-class', type=int, default=3000)
    parser.add_argument('--epochs', type=int, default=6)
    parser.add_argument('--threads', type=int, default=2)
    parser.add_argument('--workers', type=int, default=2)
    parser.add_argument('--results', default=str(ROOT / 'build' / 'recipe_ab.jsonl'))
    args = parser.parse_args(argv)

    os.environ.setdefault('OMP_WAIT_POLICY', 'PASSIVE')
    import torch

    from starcnet.training import fit, save_trained

    logging.basicConfig(format='%(asctime)s %(message)s')
    logging.getLogger('starcnet').setLevel(logging.INFO)
    torch.set_num_threads(args.threads)
    t0 = time.time()
    train = simulated_set('starcnet', args.n_per_class, 1, workers=args.workers,
                          cache=args.cache)
    val = simulated_set('starcnet', 250, 2, workers=args.workers, cache=args.cache)
    sets = {'starcnet': simulated_set('starcnet', 300, 7001, workers=args.workers,
                                      cache=args.cache),
            'kingsim': simulated_set('kingsim', 300, 7002, workers=args.workers,
                                     cache=args.kingsim_cache)}
    result = fit(train[0], train[1], validation=val, width=16, normalization=NORMALIZATION,
                 epochs=args.epochs, band_dropout=0.15, seed=1, progress_bar=False)
    path = Path(args.cache) / f'ab-{args.tag}-n{args.n_per_class}-e{args.epochs}.safetensors'
    save_trained(result, path, name=f'ab-{args.tag}', description='recipe comparison',
                 license='BSD-3-Clause', overwrite=True)
    out = {'tag': args.tag, 'n': args.n_per_class, 'epochs': args.epochs,
           'val': result.metadata['training']['val_accuracy']}
    for name, (cutouts, labels) in sets.items():
        r = evaluate(path, cutouts, labels)
        out[name] = [round(100 * r['accuracy'], 1), round(100 * r['binary_accuracy'], 1),
                     round(r['ece'], 3), [round(100 * v) for v in r['recall']],
                     r['confusion_matrix']]
    out['time_s'] = round(time.time() - t0)
    print(json.dumps(out), flush=True)
    with open(args.results, 'a') as fh:
        fh.write(json.dumps(out) + '\n')
    return 0


if __name__ == '__main__':
    sys.exit(main())
