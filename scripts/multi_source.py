#!/usr/bin/env python
# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""
Leave-one-generator-out: train on several generators, test on the others.

One command (repository root)::

    python scripts/multi_source.py --train starcnet kingsim --tag sk

trains a model of the default's size and recipe (``'local'``
normalisation, dihedral augmentation, band dropout 0.15, temperature
fitted on a validation set drawn like the training set) on
``--n-per-class`` candidates per class of *each* generator in
``--train``, then evaluates it, with the transfer table's evaluation sets
(same seeds, 300 candidates per class), on every generator in
``--evaluate``.  The figure that counts is on a generator that is not in
``--train``: whether a model trained on several independently written
generators does better on an unseen one than a model trained on one.

Training and validation seeds per generator are those of the transfer
table's reference models (``starcnet``: the default model's, 1 and 2), so
a training set is a subset of the set a reference model or the default
was trained on.  The model goes to ``build/loo/<tag>.safetensors`` and the
results to ``build/loo/<tag>.json``; both are reused when they exist.
"""

import argparse
import json
import os
import sys
import time
from pathlib import Path


REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / 'scripts'))

from _pool import EVAL_SEEDS, GENERATORS, TRAIN_SEEDS, mixed_set, simulated_set  # noqa: E402
from make_default_model import NORMALIZATION  # noqa: E402
from transfer_table import evaluate  # noqa: E402


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--train', nargs='+', required=True, choices=list(TRAIN_SEEDS),
                        help='generators to train on')
    parser.add_argument('--evaluate', nargs='+', default=list(EVAL_SEEDS),
                        choices=list(EVAL_SEEDS), help='generators to evaluate on')
    parser.add_argument('--tag', required=True, help='name of the model and its results')
    parser.add_argument('--n-per-class', type=int, default=6000,
                        help='training candidates per class and generator')
    parser.add_argument('--n-val', type=int, default=125,
                        help='validation candidates per class and generator')
    parser.add_argument('--n-eval', type=int, default=300,
                        help='evaluation candidates per class and generator')
    parser.add_argument('--epochs', type=int, default=8)
    parser.add_argument('--width', type=int, default=16)
    parser.add_argument('--seed', type=int, default=1, help='seed of the training run')
    parser.add_argument('--workers', type=int, default=2)
    parser.add_argument('--threads', type=int, default=2)
    parser.add_argument('--work-dir', default=str(REPO / 'build' / 'loo'))
    parser.add_argument('--cache', default=str(REPO / 'build' / 'transfer' / 'sets'),
                        help='simulated chunks (shared with transfer_table.py)')
    args = parser.parse_args(argv)
    os.environ.setdefault('OMP_WAIT_POLICY', 'PASSIVE')
    import torch

    from starcnet.training import fit, save_trained
    torch.set_num_threads(args.threads)
    work = Path(args.work_dir)
    work.mkdir(parents=True, exist_ok=True)
    path = work / f'{args.tag}.safetensors'
    t0 = time.time()
    if not path.exists():
        cutouts, labels = mixed_set(args.train, args.n_per_class, 0, workers=args.workers,
                                    cache=args.cache)
        val = mixed_set(args.train, args.n_val, 1, workers=args.workers, cache=args.cache)
        print(f'{len(labels)} training candidates ready after {time.time() - t0:.0f} s',
              flush=True)
        result = fit(cutouts, labels, validation=val, width=args.width,
                     normalization=NORMALIZATION, epochs=args.epochs, band_dropout=0.15,
                     seed=args.seed)
        print(result, flush=True)
        trained_on = ' + '.join(GENERATORS[g] for g in args.train)
        save_trained(result, path, name=f'loo-{args.tag}-w{args.width}',
                     description=(f'Width-{args.width} StarcNet trained on '
                                  f'{args.n_per_class} candidates per class of each of '
                                  f'{trained_on} (scripts/multi_source.py); an experiment.'),
                     license='BSD-3-Clause')
        print(f'trained {path} after {time.time() - t0:.0f} s', flush=True)
    results = {'train': args.train, 'n_per_class': args.n_per_class,
               'epochs': args.epochs, 'seed': args.seed, 'results': {}}
    for g in args.evaluate:
        cutouts, labels = simulated_set(g, args.n_eval, EVAL_SEEDS[g], workers=args.workers,
                                        cache=args.cache)
        r = evaluate(str(path), cutouts, labels)
        r.pop('reliability')
        results['results'][g] = r
        seen = 'trained on' if g in args.train else 'UNSEEN'
        print(f'{args.tag} on {g:8s} ({seen}): {100 * r["accuracy"]:.1f}% / '
              f'{100 * r["binary_accuracy"]:.1f}% / ECE {r["ece"]:.3f}; recall '
              + ', '.join(f'{100 * v:.0f}' for v in r['recall']), flush=True)
    (work / f'{args.tag}.json').write_text(json.dumps(results, indent=1) + '\n')
    return 0


if __name__ == '__main__':
    sys.exit(main())
