#!/usr/bin/env python
# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""
Build the bundled default model of starcnet.

The one command that makes the shipped weights (about an hour on 2 CPU
cores; simulated sets are cached in ``--cache`` and reused)::

    python scripts/make_default_model.py

It simulates a class-balanced training set of LEGUS-like 5-band cutouts
with the randomised `starcnet.simulation` (or, with ``--train-generators``,
with several generators, the same number from each; in parallel, chunk by chunk,
each chunk seeded from ``--seed`` so the result does not depend on
``--workers``), trains a StarcNet with `starcnet.training.fit` (the
level-free ``'local'`` normalisation, dihedral augmentation, band dropout
so that a band without data is handled; with ``--members N``, a deep
ensemble of N such networks), fits a temperature on a separate
simulated validation set, reports the accuracy on a third, held-out
simulated set, and saves the weights with `starcnet.training.save_trained`.
Everything is seeded: the same command on the same software versions
gives the same file.

Accuracy on candidates of the simulator a model was trained on measures
the simulator: ``scripts/transfer_table.py`` evaluates the result on
independently written generators too (the figure that counts).
"""

import argparse
import json
import logging
import os
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / 'scripts'))

from _pool import GENERATORS, HELD_OUT_SEEDS, TRAIN_SEEDS, mixed_set  # noqa: E402

#: Level-free input normalisation of the default model: per cutout and
#: band, background = median and noise = 1.4826 MAD of the pixels more
#: than 12 px from the centre, then arcsinh((x - background) / noise).
NORMALIZATION = {'kind': 'local', 'stretch': 1.0, 'radius': 12.0}

CITATION = ('Pérez, G., Messa, M., Calzetti, D., et al. 2021, ApJ 907, 100 '
            '(StarcNet); LEGUS: Calzetti, D., et al. 2015, AJ 149, 51; '
            'Adamo, A., et al. 2017, ApJ 841, 131')


def main(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__.split('\n\n')[0],
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--out', default=str(ROOT / 'starcnet' / 'data'
                                             / 'sim-small-v2.safetensors'),
                        help='output weights file (default: %(default)s)')
    parser.add_argument('--name', default='sim-small-v2')
    parser.add_argument('--seed', type=int, default=1,
                        help='seed of the training set; the validation and '
                             'test sets use seed + 1 and seed + 2')
    parser.add_argument('--n-train', type=int, default=12000,
                        help='simulated training candidates per class')
    parser.add_argument('--n-val', type=int, default=250,
                        help='simulated validation candidates per class')
    parser.add_argument('--n-test', type=int, default=500,
                        help='held-out simulated candidates per class')
    parser.add_argument('--train-generators', nargs='+', default=['starcnet'],
                        choices=list(TRAIN_SEEDS),
                        help='generators whose candidates train the model (default: '
                             'starcnet only); --n-train, --n-val and --n-test per class '
                             'and generator; the starcnet sets are seeded by --seed, '
                             'the others by scripts/_pool.py TRAIN_SEEDS')
    parser.add_argument('--train-seed-shift', type=int, default=0,
                        help='add this to the seed of every generator\'s training set '
                             '(not the validation and held-out sets): a fresh draw of '
                             'training candidates, e.g. to go on training a model with '
                             '--init on data it has not seen')
    parser.add_argument('--init', default=None,
                        help='fine-tune this model (a registry name or weights file) '
                             'instead of training a new network: its configuration and '
                             'normalisation are kept, --width is ignored and the peak '
                             'learning rate defaults to 5e-4')
    parser.add_argument('--members', type=int, default=1,
                        help='train a deep ensemble of this many networks (seeds '
                             '--seed, --seed + 1, ...; starcnet.training.fit_ensemble)')
    parser.add_argument('--first-member-out', default=None,
                        help='with --members: also save the first member alone, '
                             'with its own temperature and OOD entry, here')
    parser.add_argument('--first-member-name', default=None,
                        help='the name of that model (default: --name without '
                             '"-ensemble")')
    parser.add_argument('--epochs', type=int, default=8)
    parser.add_argument('--width', type=int, default=16)
    parser.add_argument('--batch-size', type=int, default=128)
    parser.add_argument('--learning-rate', type=float, default=None,
                        help='peak learning rate (default 2e-3, or 5e-4 with --init)')
    parser.add_argument('--weight-decay', type=float, default=1e-4)
    parser.add_argument('--band-dropout', type=float, default=0.15)
    parser.add_argument('--threads', type=int, default=2)
    parser.add_argument('--workers', type=int, default=2,
                        help='processes simulating the candidates')
    parser.add_argument('--cache', default=str(ROOT / 'build' / 'simulated'),
                        help='folder of cached simulated chunks')
    parser.add_argument('--overwrite', action='store_true',
                        help='replace an existing output file')
    parser.add_argument('--report', default=None,
                        help='also write the training metadata as JSON here')
    args = parser.parse_args(argv)
    for out in (args.out, args.first_member_out):
        if out and Path(out).exists() and not args.overwrite:
            parser.error(f'{out} exists; give --overwrite to replace it')
    if args.first_member_out and args.members < 2:
        parser.error('--first-member-out needs --members 2 or more')
    if args.init and args.members > 1:
        parser.error('--init fine-tunes one network; it does not go with --members')
    args.first_member_name = (args.first_member_name
                              or args.name.removesuffix('-ensemble'))

    # Idle OpenMP threads sleep instead of spinning: on a shared machine
    # spinning threads slow training several-fold (results are unchanged).
    os.environ.setdefault('OMP_WAIT_POLICY', 'PASSIVE')
    import torch

    from starcnet import StarClusterClassifier
    from starcnet.metrics import classification_report, expected_calibration_error
    from starcnet.training import fit, fit_ensemble, member_of, save_trained

    torch.set_num_threads(args.threads)
    logging.basicConfig(format='%(asctime)s %(message)s')
    logging.getLogger('starcnet').setLevel(logging.INFO)
    t0 = time.time()

    # the starcnet sets are seeded by --seed, the others by TRAIN_SEEDS
    seeds = {**TRAIN_SEEDS, 'starcnet': tuple(args.seed + k for k in range(3))}
    seeds = {g: (s[0] + args.train_seed_shift, *s[1:]) for g, s in seeds.items()}
    taken = sorted({s for g in args.train_generators for s in seeds[g]} & HELD_OUT_SEEDS)
    if taken:
        parser.error(f'seeds {taken} are those of evaluation sets (scripts/_pool.py '
                     'HELD_OUT_SEEDS): choose another --seed or --train-seed-shift')
    train, val, test = (mixed_set(args.train_generators, n, which, seeds=seeds,
                                  workers=args.workers, cache=args.cache)
                        for which, n in enumerate((args.n_train, args.n_val, args.n_test)))
    t_sim = time.time() - t0
    print(f'{len(train[1])} training, {len(val[1])} validation and {len(test[1])} '
          f'held-out candidates ready after {t_sim:.0f} s', flush=True)

    options = dict(validation=val, width=args.width, model=args.init,
                   normalization=None if args.init else NORMALIZATION, epochs=args.epochs,
                   batch_size=args.batch_size, learning_rate=args.learning_rate,
                   weight_decay=args.weight_decay, band_dropout=args.band_dropout,
                   seed=args.seed, device='cpu', progress_bar=False)
    if args.members > 1:
        result = fit_ensemble(train[0], train[1], n_members=args.members, **options)
    else:
        result = fit(train[0], train[1], **options)
    t_train = time.time() - t0 - t_sim
    print(result, flush=True)

    command = ('python scripts/make_default_model.py '
               + ' '.join(sys.argv[1:] if argv is None else argv)).strip()
    training = result.metadata['training']
    data = {'starcnet': ('starcnet.simulation (randomised: PSF families, EFF/King/Sersic '
                         'profiles, Ryon+17 slopes, LEGUS joint photometry and crowding, '
                         'structured galaxy light, correlated noise, defects)')}
    training.update({
        'data': ' + '.join(data.get(g, GENERATORS[g]) for g in args.train_generators)
        + ', class-balanced',
        'generators': list(args.train_generators),
        'n_train_per_class': args.n_train, 'band_dropout': args.band_dropout,
        'augmentation': ('dihedral (random 90-degree rotations and flips), one band '
                         f'marked missing in {args.band_dropout:.0%} of the cutouts'),
        'command': command, 'simulation_time_s': round(t_sim, 1),
        'training_time_s': round(t_train, 1)})
    sources = ' + '.join(GENERATORS[g] for g in args.train_generators)

    def save_tested(result, out, name, overwrite):
        """Save ``result`` as ``out``, with its accuracy on the held-out sets."""
        n_params = sum(p.numel() for p in result.module.parameters())
        members = result.module.config.get('members')
        network = (f'Deep ensemble of {members} width-{args.width} StarcNets'
                   if members else f'Width-{args.width} StarcNet')
        description = (
            f'{network} ({n_params:,} parameters) trained only on simulated LEGUS-like '
            f'5-band cutouts of {sources}, with the level-free local normalisation, '
            'band dropout and temperature scaling. See the model card for its accuracy '
            'on independently written generators; never evaluated on real images.')
        tmp = Path(out).with_suffix('.tmp.safetensors')
        save_trained(result, tmp, name=name, description=description,
                     license='BSD-3-Clause', citation=CITATION, overwrite=True)
        clf = StarClusterClassifier(tmp, device='cpu')
        proba = clf.predict_proba(test[0])
        pred = np.argmax(proba, axis=1) + 1
        report = classification_report(test[1], pred)
        held_out = {'n': int(len(test[1])), 'accuracy': report.meta['accuracy'],
                    'binary_accuracy': report.meta['binary_accuracy'],
                    'recall': [float(v) for v in report['recall']],
                    'confusion_matrix': report.meta['confusion_matrix'],
                    'ece': expected_calibration_error(proba, test[1])}
        print(f'{name} on held-out candidates of the training generators:',
              json.dumps(held_out), flush=True)
        result.metadata['training']['held_out_same_generator'] = held_out
        save_trained(result, out, name=name, description=description,
                     license='BSD-3-Clause', citation=CITATION, overwrite=overwrite)
        tmp.unlink()
        print(f'saved {out} ({os.path.getsize(out)} bytes) after '
              f'{time.time() - t0:.0f} s', flush=True)

    save_tested(result, args.out, args.name, args.overwrite)
    if args.report:
        Path(args.report).write_text(json.dumps(result.metadata, indent=1, default=str))
    if args.first_member_out:
        first = member_of(result, 0, val)
        first.metadata['training']['command'] = command
        save_tested(first, args.first_member_out, args.first_member_name, args.overwrite)
    return 0


if __name__ == '__main__':
    sys.exit(main())
