#!/usr/bin/env python
# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""
Fit the temperature of the published StarcNet model (``legus-2021``).

One command::

    python scripts/calibrate_legus2021.py [--shared ../shared/data] [--update-registry]

We have neither the published weights nor the LEGUS mosaics here, but we
have what the published model gave on real LEGUS candidates: its raw
logits for the catalogs of NGC 1566, NGC 3344 and UGCA 281, produced by
the original code on the real mosaics, and the human classes of those
catalogs.  That is enough to fit a temperature (one scalar dividing the
logits, `starcnet.training.fit_temperature`) and to measure how well it
calibrates a galaxy it was not fitted on (leave one galaxy out).

Caveat, stated wherever the number is shown: these galaxies were
probably in the published model's training set (its agreement with the
humans on them is close to the paper's held-out figure, but not below
it), so the model may be more confident and more often right on them
than on a new galaxy; the temperature fitted here is then a lower bound
of the one a new galaxy needs.

Writes ``docs/legus2021_calibration.inc`` (reST table),
``docs/legus2021_calibration.json`` and
``docs/_static/reliability_legus-2021.png`` (reliability diagrams of the
three galaxies pooled, raw and with the leave-one-galaxy-out
temperatures); with ``--update-registry`` stores the temperature fitted
on all three galaxies in ``starcnet/models/registry.json``.
"""

import argparse
import glob
import json
import os
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

#: The galaxies with published raw logits: catalog name part, logits file
#: (relative to the shared data folder) and, where there is one, the
#: published prediction table that fixes the row order (Id column).
GALAXIES = {
    'NGC 1566': ('ngc1566_', 'starcnet-reference/ngc1566/output_scores.npy',
                 'starcnet-reference/ngc1566/output_predictions.csv'),
    'NGC 3344': ('ngc3344_', 'starcnet-reference/other-galaxies/scores_ngc3344.npy',
                 'starcnet-reference/other-galaxies/predictions_ngc3344.csv'),
    'UGCA 281': ('ugca281_', 'starcnet-reference/other-galaxies/scores_ugca281.npy',
                 'starcnet-reference/other-galaxies/predictions_ugca281.csv'),
}


def load_galaxy(shared, part, scores, predictions):
    """Raw logits and human classes of the labelled candidates of one galaxy."""
    from astropy.table import Table

    from starcnet.catalogs import read_legus

    paths = sorted(glob.glob(str(shared / 'legus' / 'catalogs' / f'*{part}*')))
    if len(paths) != 1:
        msg = f'expected one LEGUS catalog matching {part!r}, found {paths}'
        raise SystemExit(msg)
    catalog = read_legus(paths[0])
    logits = np.load(shared / scores).astype(np.float64)
    if logits.shape != (len(catalog), 4):
        msg = f'{scores}: shape {logits.shape}, catalog has {len(catalog)} rows'
        raise SystemExit(msg)
    published = Table.read(shared / predictions, format='ascii.csv')
    ids = np.asarray(published['Id'])
    pred = np.asarray(published['Prediction'])
    # the logits are in the published table's row order: it must be the catalog's
    if not np.array_equal(ids, np.asarray(catalog['id'])):
        msg = f'{predictions}: ids are not in catalog order'
        raise SystemExit(msg)
    if not np.array_equal(np.argmax(logits, axis=1) + 1, pred):
        msg = f'{scores}: argmax of the logits is not the published prediction'
        raise SystemExit(msg)
    human = np.asarray(catalog['human_class'].filled(0))
    keep = (human >= 1) & (human <= 4)
    return logits[keep], human[keep]


def scores(logits, labels, temperature):
    """Accuracy, binary accuracy, NLL and ECE at one temperature."""
    from starcnet.metrics import binary_accuracy, reliability_curve
    from starcnet.models.inference import softmax

    z = logits / temperature
    proba = softmax(z.astype(np.float32)).astype(np.float64)
    pred = np.argmax(proba, axis=1) + 1
    zs = z - z.max(axis=1, keepdims=True)
    nll = float(np.mean(np.log(np.exp(zs).sum(axis=1)) - zs[np.arange(len(z)), labels - 1]))
    curve = reliability_curve(proba, labels, n_bins=10)
    return {'n': int(len(labels)), 'accuracy': float(np.mean(pred == labels)),
            'binary_accuracy': float(binary_accuracy(labels, pred)),
            'nll': nll, 'ece': float(curve.meta['ece']),
            'mean_confidence': float(np.mean(proba.max(axis=1))),
            'reliability': {k: [float(v) for v in curve[k]]
                            for k in ('lower', 'upper', 'count', 'confidence', 'accuracy')}}


def write_table(result, path):
    rows = []
    for name, r in result['galaxies'].items():
        raw, cal = r['raw'], r['leave_one_out']
        rows.append((name, str(raw['n']), f'{100 * raw["accuracy"]:.1f}',
                     f'{100 * raw["binary_accuracy"]:.1f}',
                     f'{raw["nll"]:.3f}', f'{raw["ece"]:.3f}', f'{r["loo_temperature"]:.3f}',
                     f'{cal["nll"]:.3f}', f'{cal["ece"]:.3f}'))
    pooled = result['pooled']
    rows.append(('all three', str(pooled['raw']['n']),
                 f'{100 * pooled["raw"]["accuracy"]:.1f}',
                 f'{100 * pooled["raw"]["binary_accuracy"]:.1f}',
                 f'{pooled["raw"]["nll"]:.3f}', f'{pooled["raw"]["ece"]:.3f}',
                 f'{result["temperature"]:.3f} (fit)',
                 f'{pooled["leave_one_out"]["nll"]:.3f}',
                 f'{pooled["leave_one_out"]["ece"]:.3f}'))
    header = ('galaxy', 'labelled', '4-class %', 'binary %', 'NLL raw', 'ECE raw',
              'T (others)', 'NLL cal.', 'ECE cal.')
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(header)]
    line = '  '.join('=' * w for w in widths)
    fmt = '  '.join(f'{{:<{w}}}' for w in widths)
    text = [line, fmt.format(*header), line, *(fmt.format(*r) for r in rows), line]
    note = ('\n*legus-2021 (trained by Pérez et al. 2021 on human-labelled LEGUS '
            'galaxies) tested on its own published logits for three real LEGUS '
            'catalogs against their human classes; these galaxies were probably '
            'in its training set.  "T (others)": the temperature fitted on the '
            'other two galaxies, applied to this one (leave one galaxy out); the '
            'last row pools the three held-out results and gives the temperature '
            f'fitted on all three, {result["temperature"]:.3f}, the one stored '
            'with the model.  Made by* ``python scripts/calibrate_legus2021.py``.\n')
    path.write_text('\n'.join(text) + '\n' + note)


def figure(result, path):
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    from astropy.table import Table

    from starcnet.visualization import plot_reliability_diagram

    fig, axes = plt.subplots(1, 2, figsize=(8.4, 4.2), sharey=True)
    pooled = result['pooled']
    for ax, key, title in ((axes[0], 'raw', 'raw logits (T = 1)'),
                           (axes[1], 'leave_one_out', 'T fitted on the other galaxies')):
        curve = Table(pooled[key]['reliability'])
        plot_reliability_diagram(curve=curve, ax=ax,
                                 title=f'{title}; NLL {pooled[key]["nll"]:.3f}')
    axes[1].set_ylabel('')
    fig.suptitle(f'legus-2021 on {pooled["raw"]["n"]} human-labelled candidates of '
                 'NGC 1566, NGC 3344, UGCA 281 (probably training galaxies)', fontsize=9)
    fig.tight_layout()
    tmp = Path(str(path) + '.tmp.png')
    fig.savefig(tmp, dpi=110)
    plt.close(fig)
    os.replace(tmp, path)


def update_registry(temperature):
    path = ROOT / 'starcnet' / 'models' / 'registry.json'
    registry = json.loads(path.read_text())
    (entry,) = [m for m in registry['models'] if m['name'] == 'legus-2021']
    entry['temperature'] = round(float(temperature), 4)
    training = entry.setdefault('training', {})
    training['temperature_fitted_on'] = (
        'the published raw logits of NGC 1566, NGC 3344 and UGCA 281 (3057 candidates) '
        'against their LEGUS human classes, scripts/calibrate_legus2021.py; probably '
        'training galaxies of the model')
    tmp = path.with_suffix('.json.tmp')
    tmp.write_text(json.dumps(registry, indent=2, ensure_ascii=False) + '\n')
    os.replace(tmp, path)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--shared', default=str(ROOT.parent / 'shared' / 'data'),
                        help='the shared data folder (default: %(default)s)')
    parser.add_argument('--docs', default=str(ROOT / 'docs'))
    parser.add_argument('--update-registry', action='store_true',
                        help='store the temperature with legus-2021 in the registry')
    args = parser.parse_args(argv)
    from starcnet.training import fit_temperature

    shared, docs = Path(args.shared), Path(args.docs)
    data = {name: load_galaxy(shared, *spec) for name, spec in GALAXIES.items()}
    result = {'galaxies': {}}
    held_out = []
    for name, (logits, labels) in data.items():
        others = [data[o] for o in data if o != name]
        t = fit_temperature(np.concatenate([o[0] for o in others]),
                            np.concatenate([o[1] for o in others]))
        result['galaxies'][name] = {'loo_temperature': t, 'raw': scores(logits, labels, 1.0),
                                    'leave_one_out': scores(logits, labels, t),
                                    'own_temperature': fit_temperature(logits, labels)}
        held_out.append((logits / t, labels))
    all_logits = np.concatenate([d[0] for d in data.values()])
    all_labels = np.concatenate([d[1] for d in data.values()])
    result['temperature'] = fit_temperature(all_logits, all_labels)
    result['pooled'] = {
        'raw': scores(all_logits, all_labels, 1.0),
        'leave_one_out': scores(np.concatenate([h[0] for h in held_out]),
                                np.concatenate([h[1] for h in held_out]), 1.0),
        'fitted': scores(all_logits, all_labels, result['temperature'])}
    result['trained_on'] = 'human-labelled LEGUS galaxies (Pérez et al. 2021)'
    result['tested_on'] = ('published logits of NGC 1566, NGC 3344, UGCA 281 vs '
                           'LEGUS human classes (probably training galaxies)')
    (docs / 'legus2021_calibration.json').write_text(json.dumps(result, indent=1) + '\n')
    write_table(result, docs / 'legus2021_calibration.inc')
    figure(result, docs / '_static' / 'reliability_legus-2021.png')
    for name, r in result['galaxies'].items():
        print(f'{name}: n={r["raw"]["n"]} acc={r["raw"]["accuracy"]:.3f} '
              f'ECE raw {r["raw"]["ece"]:.3f} -> {r["leave_one_out"]["ece"]:.3f} '
              f'(T others {r["loo_temperature"]:.3f}, own {r["own_temperature"]:.3f})')
    print(f'all: T = {result["temperature"]:.4f}; ECE raw {result["pooled"]["raw"]["ece"]:.3f}'
          f', held out {result["pooled"]["leave_one_out"]["ece"]:.3f}')
    if args.update_registry:
        update_registry(result['temperature'])
        print('registry updated')


if __name__ == '__main__':
    main()
