#!/usr/bin/env python
# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""
Error-retention curves of the uncertainty measures of the bundled model.

One command (repository root) reruns it::

    python scripts/error_retention.py --model sim-small-v2

On the candidates of the independent generators (``kingsim``, and the
held-out ``popsim``; the evaluation sets of ``scripts/transfer_table.py``,
same seeds, never used for training), the default model classifies every
candidate once deterministically and with Monte Carlo dropout
(``n_samples`` passes, as ``StarClusterClassifier(uncertainty='mc_dropout')``
does).  Sources are ranked by each uncertainty measure:

* ``1 - max p``: one minus the top-class probability of the deterministic
  pass (no extra cost);
* ``review_priority``, deterministic: `starcnet.models.uncertainty.review_priority`
  of the deterministic probabilities (no extra cost; what a plain run writes);
* ``cluster boundary``, deterministic: ``1 - |2 p_cl - 1|`` with
  ``p_cl = p1 + p2``, the nearness to the cluster / non-cluster boundary
  alone (one of the two halves of ``review_priority``; the natural order
  for the binary errors);
* ``entropy``, ``mutual_information``, ``1 - class_quality``: of the
  Monte Carlo samples;
* ``review_priority``, MC: of the Monte Carlo mean probabilities (what
  a run with ``uncertainty='mc_dropout'`` writes).

The deterministic measures are scored against the errors of the
deterministic classes, the Monte Carlo ones against those of the Monte
Carlo mean (the class such a run writes).  An error is a 4-class error
(class != true class) or a binary one (cluster, classes 1+2, against
non-cluster, 3+4).  The figure that is asked for: the fraction of all
errors among the 20% most uncertain sources, beside the best possible
(``min(0.2 N, E) / E`` for ``E`` errors among ``N``), with a bootstrap
68% interval over the sources, and beside the ceiling that the
probabilities themselves allow (`starcnet.metrics.calibrated_error_retention`
of ``1 - max p`` and of ``min(p_cl, 1 - p_cl)`` of the deterministic pass:
what the top 20% would hold if every source were wrong with the
probability the model gives it; no measure made from calibrated
probabilities does better in expectation).

Writes ``docs/error_retention_table.inc``, ``docs/error_retention.json``
and ``docs/_static/error_retention_<model>.png``.  The Monte Carlo
samples are kept in ``--work-dir`` and reused.
"""

import argparse
import io
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / 'scripts'))

from _pool import EVAL_SEEDS, GENERATORS, simulated_set  # noqa: E402

#: The fraction of sources the issue's target is about.
TOP = 0.2
#: Measures: (key, label, which classes it goes with).
MEASURES = (
    ('one_minus_max_p', '1 - max p (deterministic)', 'deterministic'),
    ('review_priority_det', 'review_priority (deterministic)', 'deterministic'),
    ('boundary_det', 'cluster boundary (deterministic)', 'deterministic'),
    ('entropy', 'predictive entropy (MC)', 'mc'),
    ('mutual_information', 'mutual information (MC)', 'mc'),
    ('one_minus_class_quality', '1 - class_quality (MC)', 'mc'),
    ('review_priority_mc', 'review_priority (MC mean)', 'mc'),
)
BOOTSTRAP = 300
#: How the figure names the test sets.
TESTED_ON = {'kingsim': 'kingsim (independent generator)',
             'popsim': 'popsim (independent, held out)',
             'mgesim': 'mgesim (independent, never trained on)',
             'starcnet': 'starcnet.simulation (held-out seed)'}
#: What "MC" means in the labels: Monte Carlo dropout samples, or the
#: members of an ensemble model (set by main).
SAMPLES = {'MC': 'MC'}


def _label(label):
    return label.replace('(MC', '(' + SAMPLES['MC'])


def predictions(model, cutouts, n_samples, seed, cache):
    """
    Deterministic probabilities and Monte Carlo samples, cached by model;
    for a deep ensemble, its members' probabilities instead of Monte Carlo
    samples (what the classifier writes for it).
    """
    from starcnet import StarClusterClassifier
    from starcnet.models.inference import softmax
    clf = StarClusterClassifier(model, device='cpu')
    if clf.uncertainty == 'ensemble':
        proba = clf.predict_proba(cutouts)
        members = clf.predictor.member_logits(cutouts)
        samples = softmax(members)
        return clf, proba, samples
    clf = StarClusterClassifier(model, device='cpu', uncertainty='mc_dropout',
                                n_samples=n_samples, seed=seed)
    key = f'{cache.stem}-{clf.model_info.sha256[:12]}-S{n_samples}-seed{seed}.npz'
    path = cache.with_name(key)
    if path.exists():
        with np.load(path) as f:
            if f['proba'].shape[0] == len(cutouts):
                return clf, f['proba'], f['samples']
    t0 = time.time()
    proba = clf.predict_proba(cutouts)
    samples = clf.predictor.sample_proba(cutouts, n_samples=n_samples, seed=seed)
    print(f'  {n_samples} MC passes of {len(cutouts)} cutouts in {time.time() - t0:.0f} s',
          flush=True)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix('.tmp.npz')
    np.savez(tmp, proba=proba, samples=samples)
    os.replace(tmp, path)
    return clf, proba, samples


def measures(proba, samples):
    """``{key: uncertainty}`` and the classes of each kind of run."""
    from starcnet.models import uncertainty as unc
    summary = unc.uncertainty_summary(samples)
    return {
        'one_minus_max_p': 1.0 - proba.max(axis=1),
        'review_priority_det': unc.review_priority(proba),
        'boundary_det': 1.0 - np.abs(2.0 * proba[:, :2].sum(axis=1) - 1.0),
        'entropy': summary['entropy'],
        'mutual_information': summary['mutual_information'],
        'one_minus_class_quality': 1.0 - summary['class_quality'],
        'review_priority_mc': unc.review_priority(summary['mean']),
    }, {'deterministic': np.argmax(proba, axis=1) + 1,
        'mc': np.argmax(summary['mean'], axis=1) + 1}


def error_sets(pred, labels):
    """4-class and binary (1+2 against 3+4) errors."""
    return {'4-class': pred != labels, 'binary': (pred <= 2) != (labels <= 2)}


def bootstrap_interval(errors, uncertainty, rng, n=None):
    """16th and 84th percentiles of the errors in the top 20% over resampled sources."""
    from starcnet.metrics import errors_in_top
    values = []
    for _ in range(BOOTSTRAP if n is None else n):
        pick = rng.integers(0, len(errors), len(errors))
        values.append(errors_in_top(errors[pick], uncertainty[pick], TOP))
    return [float(v) for v in np.nanpercentile(values, [16, 84])]


def evaluate(proba, samples, labels, seed=0):
    """Curves and the top-20% figures of every measure and kind of error."""
    from starcnet.metrics import calibrated_error_retention, error_retention
    scores, classes = measures(proba, samples)
    rng = np.random.default_rng(seed)
    out = {'accuracy': {k: float(np.mean(c == labels)) for k, c in classes.items()},
           'binary_accuracy': {k: float(np.mean((c <= 2) == (labels <= 2)))
                               for k, c in classes.items()},
           'measures': {}, 'curves': {}}
    for key, label, kind in MEASURES:
        errors = error_sets(classes[kind], labels)
        entry = {'label': label, 'classes': kind}
        for which, err in errors.items():
            curve = error_retention(err, scores[key])
            found = float(np.interp(TOP, curve['fraction'], curve['errors_found']))
            best = float(np.interp(TOP, curve['fraction'], curve['oracle']))
            entry[which] = {
                'errors_in_top': found, 'best_possible': best, 'ratio_to_best': found / best,
                'interval_68': bootstrap_interval(err, scores[key], rng),
                'n_errors': curve.meta['n_errors'], 'n': curve.meta['n_used'],
                'error_rate': curve.meta['n_errors'] / curve.meta['n_used'],
                'auc': curve.meta['auc']}
            out['curves'][(key, which)] = curve
        out['measures'][key] = entry
    # what the deterministic probabilities promise, if calibrated source by source
    p_cluster = proba[:, :2].sum(axis=1)
    out['calibrated_ceiling'] = {}
    for which, q in (('4-class', scores['one_minus_max_p']),
                     ('binary', np.minimum(p_cluster, 1.0 - p_cluster))):
        curve = calibrated_error_retention(q)
        out['calibrated_ceiling'][which] = {
            'errors_in_top': float(np.interp(TOP, curve['fraction'], curve['errors_found'])),
            'expected_error_rate': curve.meta['expected_errors'] / curve.meta['n_used']}
        out['curves'][('calibrated_ceiling', which)] = curve
    return out


def _rst(head, body):
    widths = [max(len(h), *(len(r[i]) for r in body)) for i, h in enumerate(head)]
    sep = '  '.join('=' * w for w in widths)
    line = lambda r: '  '.join(c.ljust(w) for c, w in zip(r, widths)).rstrip()  # noqa: E731
    return '\n'.join([sep, line(head), sep, *[line(r) for r in body], sep]) + '\n'


def format_table(results):
    """The reST table: errors in the top 20% (ratio to the best possible)."""
    gens = list(results)
    head = ['Ranked by', *[f'{g}, {w}' for g in gens for w in ('4-class', 'binary')]]
    body = []
    for key, label, _ in MEASURES:
        cells = []
        for g in gens:
            for which in ('4-class', 'binary'):
                m = results[g]['measures'][key][which]
                cells.append(f'{100 * m["errors_in_top"]:.1f}% ({m["ratio_to_best"]:.2f})')
        body.append([_label(label), *cells])
    body.append(['random order', *[f'{100 * TOP:.1f}%'] * (2 * len(gens))])
    cells = []
    for g in gens:
        for which in ('4-class', 'binary'):
            m = results[g]['measures']['entropy'][which]
            cells.append(f'{100 * m["best_possible"]:.1f}% (1)')
    body.append([_label('best possible (MC classes)'), *cells])
    cells = []
    for g in gens:
        for which in ('4-class', 'binary'):
            m = results[g]['calibrated_ceiling'][which]
            cells.append(f'{100 * m["errors_in_top"]:.1f}%')
    body.append(['ceiling if calibrated (det. p)', *cells])
    return _rst(head, body)


def figure(results, path, model, trained_on):
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    from starcnet.visualization import plot_error_retention
    gens = list(results)
    fig, axes = plt.subplots(len(gens), 2, figsize=(10.5, 5.6 * len(gens)),
                             layout='constrained', squeeze=False)
    for row, g in zip(axes, gens):
        r = results[g]
        for ax, which in zip(row, ('4-class', 'binary')):
            curves = {_label(label): r['curves'][(key, which)]
                      for key, label, _ in MEASURES}
            acc = r['accuracy' if which == '4-class' else 'binary_accuracy']['mc']
            title = (f'{model}\n(trained on {trained_on}),\ntested on {TESTED_ON.get(g, g)}\n'
                     f'{which} errors: {SAMPLES["MC"]} accuracy {100 * acc:.1f}%, '
                     f'{r["measures"]["entropy"][which]["n_errors"]} errors of '
                     f'{r["measures"]["entropy"][which]["n"]}')
            plot_error_retention(curves, ax=ax, at=TOP, title=title,
                                 ceiling=r['curves'][('calibrated_ceiling', which)])
    buffer = io.BytesIO()
    fig.savefig(buffer, dpi=100)
    plt.close(fig)
    # full colour: a 64-colour median-cut palette dropped the colour of a
    # curve hidden under another, leaving its legend line the wrong colour
    from PIL import Image
    buffer.seek(0)
    image = Image.open(buffer).convert('RGB')
    tmp = Path(str(path) + '.tmp.png')
    image.save(tmp, optimize=True)
    os.replace(tmp, path)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--model', default=None, help='default: the bundled default model')
    parser.add_argument('--trained-on', default='starcnet.simulation',
                        help="what the model was trained on, for the captions")
    parser.add_argument('--generators', nargs='*', default=['kingsim', 'popsim', 'starcnet'],
                        choices=list(GENERATORS))
    parser.add_argument('--n-per-class', type=int, default=300)
    parser.add_argument('--n-samples', type=int, default=16)
    parser.add_argument('--seed', type=int, default=0, help='seed of the dropout masks')
    parser.add_argument('--work-dir', default=str(REPO / 'build' / 'transfer'),
                        help='simulated sets (shared with transfer_table.py) and MC samples')
    parser.add_argument('--workers', type=int, default=2)
    parser.add_argument('--threads', type=int, default=2)
    parser.add_argument('--output-dir', default=str(REPO / 'docs'))
    parser.add_argument('--output-prefix', default='error_retention',
                        help='writes <prefix>_table.inc and <prefix>.json (default: '
                             '%(default)s)')
    args = parser.parse_args(argv)
    os.environ.setdefault('OMP_WAIT_POLICY', 'PASSIVE')
    import torch

    from starcnet import conf
    torch.set_num_threads(args.threads)
    t0 = time.time()
    work = Path(args.work_dir)
    model = args.model or conf.default_model
    results = {}
    name = None
    for g in args.generators:
        cutouts, labels = simulated_set(g, args.n_per_class, EVAL_SEEDS[g],
                                        workers=args.workers, cache=work / 'sets')
        cache = work / 'error_retention' / f'{g}-{EVAL_SEEDS[g]}-n{args.n_per_class}'
        clf, proba, samples = predictions(model, cutouts, args.n_samples, args.seed, cache)
        name = clf.model_name
        if clf.uncertainty == 'ensemble':
            SAMPLES['MC'] = f'{clf.n_samples} members'
        results[g] = evaluate(proba, samples, labels)
        r = results[g]
        print(f'{g}: accuracy {100 * r["accuracy"]["deterministic"]:.1f}% deterministic, '
              f'{100 * r["accuracy"]["mc"]:.1f}% MC mean; binary '
              f'{100 * r["binary_accuracy"]["deterministic"]:.1f}% / '
              f'{100 * r["binary_accuracy"]["mc"]:.1f}%', flush=True)
    out = Path(args.output_dir)
    note = (f'.. Generated by scripts/error_retention.py ({name}, trained on '
            f'{args.trained_on}; {args.n_per_class} candidates per class of '
            + ', '.join(f'{g} (seed {EVAL_SEEDS[g]})' for g in args.generators)
            + ('; the members of the ensemble' if SAMPLES['MC'] != 'MC' else
               f'; {args.n_samples} MC dropout samples, seed {args.seed}')
            + '); do not edit.\n\n')
    table = format_table(results)
    (out / f'{args.output_prefix}_table.inc').write_text(note + table)
    (out / f'{args.output_prefix}.json').write_text(json.dumps({
        'model': name, 'trained_on': args.trained_on, 'tested_on': args.generators,
        'n_per_class': args.n_per_class, 'seeds': {g: EVAL_SEEDS[g] for g in args.generators},
        'n_samples': args.n_samples, 'dropout_seed': args.seed, 'top': TOP,
        'bootstrap': BOOTSTRAP,
        'results': {g: {k: v for k, v in r.items() if k != 'curves'}
                    for g, r in results.items()}}, indent=1) + '\n')
    static = out / '_static'
    static.mkdir(exist_ok=True)
    figure(results, static / f'error_retention_{name}.png', name, args.trained_on)
    print(table)
    print(f'done in {time.time() - t0:.0f} s')
    return 0


if __name__ == '__main__':
    sys.exit(main())
