#!/usr/bin/env python
# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""
The transfer table: every model on candidates of every generator.

One command (repository root) reruns it::

    python scripts/transfer_table.py

A model's accuracy on the generator it was trained on measures that
generator; the figure that counts is on a generator nobody made for
training it.  Four generators of LEGUS-like candidates are used:

* ``starcnet``: `starcnet.simulation`, the training data of the bundled
  models;
* ``kingsim``: `starcnet.evaluation.kingsim`, written independently from
  LEGUS facts alone (analytic Moffat+halo PSFs, King 1962 clusters, its
  own recipes, noise and backgrounds); never used to train a bundled
  model;
* ``popsim``: `starcnet.evaluation.popsim`, written independently again
  (diffraction PSFs of an HST-like pupil, clusters as stochastic stellar
  populations, dithered exposures drizzled together);
* ``mgesim``: `starcnet.evaluation.mgesim`, written by a fourth author
  who had read none of the others (multi-Gaussian PSFs and Wilson 1975
  clusters, LEGUS-like selection by CI, noise shaped in Fourier space):
  the generator no model decision was taken on before it was scored.

The models: the bundled ones (``sim-small-v1`` and the new default), and
reference models of the new default's size trained the same way on each
independent generator (so the table shows how far the default is from a
model that knows the generator, and which generator is the narrow one).
Reference models are trained once into ``--work-dir`` and reused.

Writes ``docs/transfer_table.inc`` (accuracy, binary accuracy, expected
calibration error), ``docs/transfer_details.inc`` (per-class recall and
confusion matrices), ``docs/transfer_table.json`` and the reliability
diagrams ``docs/_static/reliability_<model>_<generator>.png``.
"""

import argparse
import hashlib
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / 'scripts'))

from _pool import EVAL_SEEDS, GENERATORS, TRAIN_SEEDS, simulated_set, trained_on  # noqa: E402


def evaluate(model, cutouts, labels, missing=None):
    """Metrics of one model on labelled cutouts."""
    from starcnet import StarClusterClassifier
    from starcnet.metrics import classification_report, reliability_curve
    clf = StarClusterClassifier(model, device='cpu')
    proba = clf.predict_proba(cutouts, missing=missing)
    pred = np.argmax(proba, axis=1) + 1
    report = classification_report(labels, pred)
    curve = reliability_curve(proba, labels, n_bins=10)
    return {
        'model': clf.model_name,
        'accuracy': report.meta['accuracy'],
        'binary_accuracy': report.meta['binary_accuracy'],
        'ece': curve.meta['ece'],
        'recall': [float(v) for v in report['recall']],
        'confusion_matrix': report.meta['confusion_matrix'],
        'n': int(len(labels)),
        'reliability': {k: [float(v) for v in curve[k]]
                        for k in ('lower', 'upper', 'count', 'confidence', 'accuracy')},
    }


def train_reference(generator, path, *, width, n_per_class, n_val, epochs, workers,
                    cache, normalization, band_dropout):
    """Train a model of the default's recipe on one generator's candidates."""
    from starcnet.training import fit, save_trained
    train_seed, val_seed, _ = TRAIN_SEEDS[generator]
    cutouts, labels = simulated_set(generator, n_per_class, train_seed, workers=workers,
                                    cache=cache)
    val = simulated_set(generator, n_val, val_seed, workers=workers, cache=cache)
    t0 = time.time()
    result = fit(cutouts, labels, validation=val, width=width,
                 normalization=normalization, epochs=epochs, band_dropout=band_dropout,
                 seed=train_seed)
    save_trained(result, path, name=f'reference-{generator}-w{width}',
                 description=(f'Reference model: width-{width} StarcNet trained on '
                              f'{4 * n_per_class} candidates of {GENERATORS[generator]} '
                              '(scripts/transfer_table.py); for the transfer table only.'),
                 license='BSD-3-Clause', overwrite=True)
    print(f'trained {path} in {time.time() - t0:.0f} s', flush=True)


def _rst(head, body):
    widths = [max(len(h), *(len(r[i]) for r in body)) for i, h in enumerate(head)]
    sep = '  '.join('=' * w for w in widths)
    line = lambda r: '  '.join(c.ljust(w) for c, w in zip(r, widths)).rstrip()  # noqa: E731
    return '\n'.join([sep, line(head), sep, *[line(r) for r in body], sep]) + '\n'


def format_tables(results, generators, trained_on):
    head = ('Model', 'Trained on', *[f'on {g}' for g in generators])
    body = []
    for name, per_gen in results.items():
        cells = []
        for g in generators:
            r = per_gen.get(g)
            cells.append('--' if r is None else
                         f'{100 * r["accuracy"]:.1f} / {100 * r["binary_accuracy"]:.1f}'
                         f' / {r["ece"]:.3f}')
        body.append((name, trained_on[name], *cells))
    main = _rst(head, body)
    lines = []
    for name, per_gen in results.items():
        for g in generators:
            r = per_gen.get(g)
            if r is None:
                continue
            recall = ', '.join(f'{100 * v:.0f}' for v in r['recall'])
            matrix = ' | '.join(' '.join(f'{v:3d}' for v in row)
                                for row in r['confusion_matrix'])
            lines.append((name, g, recall, matrix))
    details = _rst(('Model', 'Evaluated on', 'Recall 1, 2, 3, 4 (%)',
                    'Confusion (rows: true 1-4; columns: predicted 1-4)'), lines)
    return main, details


def reliability_figure(result, path, title):
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    rel = result['reliability']
    fig, (ax, axh) = plt.subplots(2, 1, figsize=(4.2, 5.2), sharex=True,
                                  gridspec_kw={'height_ratios': [3, 1]})
    centres = (np.array(rel['lower']) + np.array(rel['upper'])) / 2
    ok = np.array(rel['count']) > 0
    ax.plot([0, 1], [0, 1], color='0.6', ls='--', lw=1, label='calibrated')
    ax.bar(centres[ok], np.array(rel['accuracy'])[ok], width=0.09, color='#4477aa',
           alpha=0.8, label='accuracy in bin')
    ax.plot(np.array(rel['confidence'])[ok], np.array(rel['accuracy'])[ok], 'o-',
            color='#cc3311', ms=4, label='accuracy at the mean confidence')
    ax.set_ylabel('accuracy in bin')
    ax.set_ylim(0, 1)
    ax.set_title(f'{title}\nECE {result["ece"]:.3f}, accuracy '
                 f'{100 * result["accuracy"]:.1f}%', fontsize=9)
    ax.legend(loc='upper left', fontsize=8, frameon=False)
    axh.bar(centres, rel['count'], width=0.09, color='0.5')
    axh.set_xlabel('top-class probability')
    axh.set_ylabel('candidates')
    axh.set_xlim(0, 1)
    fig.tight_layout()
    tmp = Path(str(path) + '.tmp.png')
    fig.savefig(tmp, dpi=110)
    plt.close(fig)
    os.replace(tmp, path)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--models', nargs='*', default=None,
                        help='bundled models to evaluate (names or files; default: '
                             'sim-small-v1, sim-small-v2, the default model, '
                             'sim-small-v3, sim-small-v3-ensemble and sim-small-v4)')
    parser.add_argument('--generators', nargs='*', default=list(GENERATORS),
                        choices=list(GENERATORS))
    parser.add_argument('--n-per-class', type=int, default=300,
                        help='evaluation candidates per class and generator')
    parser.add_argument('--work-dir', default=str(REPO / 'build' / 'transfer'),
                        help='simulated sets and reference models are kept here')
    parser.add_argument('--no-reference', action='store_true',
                        help='do not train or evaluate the reference models')
    parser.add_argument('--reference-n-per-class', type=int, default=2500)
    parser.add_argument('--reference-epochs', type=int, default=8)
    parser.add_argument('--workers', type=int, default=2)
    parser.add_argument('--threads', type=int, default=2)
    parser.add_argument('--output-dir', default=str(REPO / 'docs'))
    args = parser.parse_args(argv)
    os.environ.setdefault('OMP_WAIT_POLICY', 'PASSIVE')
    import torch

    from starcnet import conf
    from starcnet.models import load_model
    from starcnet.training.results import _versions
    torch.set_num_threads(args.threads)
    work = Path(args.work_dir)
    cache = work / 'sets'
    t0 = time.time()
    models = args.models or ['sim-small-v1', 'sim-small-v2', conf.default_model,
                             'sim-small-v3', 'sim-small-v3-ensemble', 'sim-small-v4']
    models = list(dict.fromkeys(models))
    described = {}
    for m in models:
        name = load_model(m)[1].name
        described[name] = trained_on(name)[0]
    default_info = load_model(conf.default_model)[1]
    if not args.no_reference:
        width = default_info.config['width']
        for g in (g for g in args.generators if g != 'starcnet'):
            # the training budget is in the file name: a cached reference
            # is reused only for the same budget
            path = work / (f'reference-{g}-w{width}-n{args.reference_n_per_class}'
                           f'-e{args.reference_epochs}.safetensors')
            if not path.exists():
                train_reference(g, path, width=width,
                                n_per_class=args.reference_n_per_class,
                                n_val=250, epochs=args.reference_epochs,
                                workers=args.workers, cache=cache,
                                normalization=default_info.normalization,
                                band_dropout=0.15)
            models.append(str(path))
            described[f'reference-{g}-w{width}'] = g
    sets = {g: simulated_set(g, args.n_per_class, EVAL_SEEDS[g], workers=args.workers,
                             cache=cache) for g in args.generators}
    # so that a rerun elsewhere can tell whether it evaluates on the same sets
    fingerprints = {g: hashlib.sha256(np.ascontiguousarray(c).tobytes()
                                      + np.ascontiguousarray(y).tobytes()).hexdigest()
                    for g, (c, y) in sets.items()}
    print(f'evaluation sets ready after {time.time() - t0:.0f} s; sha256 '
          + ', '.join(f'{g} {h[:12]}' for g, h in fingerprints.items()), flush=True)
    results = {}
    for m in models:
        for g, (cutouts, labels) in sets.items():
            r = evaluate(m, cutouts, labels)
            results.setdefault(r['model'], {})[g] = r
            print(f'{r["model"]:>24s} on {g:8s}: {100 * r["accuracy"]:.1f}% / '
                  f'{100 * r["binary_accuracy"]:.1f}% / ECE {r["ece"]:.3f}', flush=True)
    # the default model with F275W missing (a band outside its footprint)
    missing = {}
    for g, (cutouts, labels) in sets.items():
        mask = np.zeros((len(labels), cutouts.shape[1]), dtype=bool)
        mask[:, 0] = True
        zeroed = cutouts.copy()
        zeroed[:, 0] = 0.0
        missing[g] = evaluate(conf.default_model, zeroed, labels, missing=mask)
    results[f'{default_info.name}, F275W missing'] = missing
    described[f'{default_info.name}, F275W missing'] = trained_on(default_info.name)[0]
    out = Path(args.output_dir)
    main_table, details = format_tables(results, args.generators, described)
    note = (f'.. Generated by scripts/transfer_table.py ({args.n_per_class} candidates '
            'per class and generator, seeds ' + ', '.join(
                f'{g} {EVAL_SEEDS[g]}' for g in args.generators) + '); do not edit.\n\n')
    (out / 'transfer_table.inc').write_text(note + main_table)
    (out / 'transfer_details.inc').write_text(note + details)
    (out / 'transfer_table.json').write_text(json.dumps(
        {'n_per_class': args.n_per_class, 'seeds': EVAL_SEEDS, 'set_sha256': fingerprints,
         'versions': _versions(), 'trained_on': described,
         'results': results}, indent=1) + '\n')
    static = out / '_static'
    static.mkdir(exist_ok=True)
    for name in (default_info.name, 'sim-small-v3-ensemble', 'sim-small-v2'):
        for g in args.generators:
            if g in results.get(name, {}):
                reliability_figure(results[name][g], static / f'reliability_{name}_{g}.png',
                                   f'{name} on {g}')
    print(main_table)
    print(details)
    print(f'done in {time.time() - t0:.0f} s')
    return 0


if __name__ == '__main__':
    sys.exit(main())
