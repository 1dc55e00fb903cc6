#!/usr/bin/env python
# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""
The out-of-distribution table: how well each OOD score separates
in-distribution candidates from shifted inputs (AUROC), and how many
in-distribution candidates each flags at its threshold.

One command (repository root) reruns it::

    python scripts/ood_table.py

and, to also write the fitted combined entry of the first model of
``--models`` into ``starcnet/models/registry.json`` (how the shipped
entry of ``sim-small-v2`` was made, with ``--models sim-small-v2``;
``sim-small-v3`` and later carry the entry `starcnet.training.fit` fitted
on their validation set in their file, and need none)::

    python scripts/ood_table.py --models sim-small-v2 --write-registry

In-distribution data are candidates of the generators a model was
trained on (``_pool.TRAINED_ON``: `starcnet.simulation` for ``sim-small-v1``
and ``-v2``; it, ``kingsim`` and ``popsim`` in equal numbers for
``sim-small-v3``, ``-v4`` and ``-v5``), with seeds disjoint from training
(``scripts/make_default_model.py`` uses seeds 1, 2, 3 and 8101-8203, and
2001, 10101, 10201 for ``sim-small-v5``'s second draw; the
transfer table 7001-7004; this table 9201-9211): the scores are fitted on ``FIT_SEED``
(`starcnet.models.uncertainty.fit_ood`, which itself fits the moments on
half of them and the scales and threshold on the other half) and
evaluated on ``TEST_SEED``.  The shifts:

* ``kingsim``, ``popsim``, ``mgesim``: candidates of the independently
  written generators of `starcnet.evaluation`, meant to be LEGUS-like:
  their "shift" is the gap between generators (a generator a model was
  trained on is no shift for it: its cell says so);
* ``blank sky``: sky plus noise only (the simulator's sky levels,
  exposure depths, Poisson and read noise, correlated noise), no source;
* ``saturated star``: a test candidate with a bright star at the centre
  (Gaussian, FWHM 2 px, 30-3000 times the saturation level in F555W, a
  stellar colour), clipped at the saturation level of each band with the
  excess charge bled up and down its column;
* ``bands shuffled``: the test candidates with their 5 bands in a random
  order (never the identity);
* ``counts``: the test candidates multiplied by the exposure time of
  each band (the LEGUS times 2400, 1100, 900, 1100, 900 s, times
  0.8-1.25 per band), i.e. pixel values in counts instead of e-/s;
* ``PSF x2``: candidates rendered by the simulator with each band's PSF
  convolved with a Gaussian of sigma ``sqrt(3) * FWHM / 2.355`` (the
  simulator's rough core FWHM of that PSF), which doubles the FWHM of a
  Gaussian core; noise added after, as usual;
* ``off-centre 4 px``: candidates rendered by the simulator 4 px from
  the cutout centre along a random axis and sign (the simulator's own
  centring error is at most 1 px), from its padded canvas: no pixel is
  wrapped or invented.

The last two patch the simulator's PSF draw and centre for the call
(``_patched``); the module is restored afterwards.  Their AUROC is
against the in-distribution test candidates of `starcnet.simulation`
alone (for a model trained on several generators, the others would make
it partly a measure of the gap between generators).

Writes ``docs/ood_table.inc`` (reST) and ``docs/ood_table.json``.
"""

import argparse
import contextlib
import json
import os
import re
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / 'scripts'))

from _pool import mixed_set, simulated_set, trained_on  # noqa: E402

#: Seeds of the sets of the table.  A pilot run during development (on
#: smaller sets) used seeds 9101-9110; the table uses fresh ones, so its
#: figures are on sets no design decision looked at.
FIT_SEED = 9201
TEST_SEED = 9202
SHIFT_SEEDS = {'kingsim': 9203, 'popsim': 9204, 'mgesim': 9211, 'blank sky': 9205,
               'saturated star': 9206, 'bands shuffled': 9207, 'counts': 9208,
               'PSF x2': 9209, 'off-centre 4 px': 9210}
SHIFTS = tuple(SHIFT_SEEDS)
#: The shifts that are candidates of another generator.
GENERATOR_SHIFTS = ('kingsim', 'popsim', 'mgesim')
#: The shifts rendered by a patched `starcnet.simulation`: their AUROC is
#: against the in-distribution candidates of that generator alone.
SIMULATOR_SHIFTS = ('PSF x2', 'off-centre 4 px')
KINDS = ('energy', 'mahalanobis', 'input_statistics', 'combined', 'rarest', 'evidence')
KIND_LABELS = {'energy': 'energy', 'mahalanobis': 'Mahalanobis (features)',
               'input_statistics': 'input statistics', 'combined': 'combined',
               'rarest': 'combined + rarest', 'evidence': 'combined + sum'}
#: The rows that are a combined entry with an ``evidence`` rule.
EVIDENCE_ROWS = {'rarest': 'rarest', 'evidence': 'sum'}
#: Rows of the OFF_CENTRE flag: the centre rise against the ``centre``
#: threshold of the combined entry fitted here and of the shipped entry,
#: and the shipped entry's two flags together (its score is the larger of
#: the OOD score and the rise, each over its threshold: 1 is either flag).
CENTRE_ROWS = ('centre', 'shipped centre', 'shipped either')
CENTRE_LABELS = {'centre': 'centre rise', 'shipped centre': 'shipped centre rise',
                 'shipped either': 'shipped, either flag'}
DEFAULT_MODEL = 'sim-small-v5'


def _log(message, t0):
    print(f'[{time.time() - t0:7.1f} s] {message}', flush=True)


# -- shifted inputs -------------------------------------------------------------

def blank_sky(n, seed):
    """Sky + noise cutouts (n, 5, 32, 32) in e-/s, no source."""
    from starcnet.simulation._data import MEAN_PIXEL
    from starcnet.simulation.noise import add_noise, draw_exposures

    rng = np.random.default_rng(seed)
    sky = MEAN_PIXEL[None] * np.exp(rng.uniform(np.log(0.02), np.log(0.4), (n, 1))
                                    + rng.normal(0, 0.2, (n, 5)))
    img = np.broadcast_to(sky[:, :, None, None], (n, 5, 32, 32)).astype(np.float32)
    exptime, nexp = draw_exposures(rng, n)
    return add_noise(img, rng, exptime, nexp)


def saturated_stars(cutouts, seed):
    """``cutouts`` with a saturated star and bleed columns at the centre."""
    from starcnet.simulation._data import EXPTIME, FULL_WELL

    rng = np.random.default_rng(seed)
    out = np.array(cutouts, dtype=np.float64)
    n = len(out)
    yy, xx = np.mgrid[:32, :32]
    sigma = 2.0 / 2.355
    colour = 10 ** (-0.4 * np.array([1.0, 0.6, 0.3, 0.0, -0.3]))   # a star, F555W = 1
    for i in range(n):
        nexp = rng.integers(2, 7, 5)
        exptime = EXPTIME * rng.uniform(0.3, 2.5) * rng.uniform(0.8, 1.25, 5)
        saturation = FULL_WELL * nexp / exptime                      # e-/s per band
        cx, cy = 15 + rng.uniform(0, 1, 2) + rng.normal(0, 0.3, 2)
        profile = np.exp(-0.5 * ((xx - cx) ** 2 + (yy - cy) ** 2) / sigma ** 2)
        peak = saturation[3] * 10 ** rng.uniform(np.log10(30), np.log10(3000))
        col, row = int(round(cx)), int(round(cy))
        for b in range(5):
            band = out[i, b] + peak * colour[b] * profile
            excess = np.clip(band - saturation[b], 0, None).sum()
            band = np.minimum(band, saturation[b])
            if excess > 0:
                # the excess charge fills the column above and below
                length = int(excess / (2 * saturation[b])) + 1
                band[max(row - length, 0):min(row + length + 1, 32), col] = saturation[b]
            out[i, b] = band
    return out.astype(np.float32)


def shuffled_bands(cutouts, seed):
    """Each cutout's bands in a random order other than the identity."""
    rng = np.random.default_rng(seed)
    out = np.empty_like(cutouts)
    for i in range(len(cutouts)):
        order = np.arange(5)
        while np.array_equal(order, np.arange(5)):
            order = rng.permutation(5)
        out[i] = cutouts[i, order]
    return out


def in_counts(cutouts, seed):
    """The cutouts times LEGUS-like exposure times per band (counts)."""
    from starcnet.simulation._data import EXPTIME

    rng = np.random.default_rng(seed)
    exptime = EXPTIME[None] * rng.uniform(0.8, 1.25, (len(cutouts), 5))
    return (cutouts * exptime[:, :, None, None]).astype(np.float32)


@contextlib.contextmanager
def _patched(module, name, value):
    old = getattr(module, name)
    setattr(module, name, value)
    try:
        yield
    finally:
        setattr(module, name, old)


def wide_psf(n_per_class, seed):
    """Simulator candidates whose PSFs are twice as wide (see the module doc)."""
    from starcnet.simulation import candidates, psf

    draw = psf.draw_psfs

    def draw_wide(rng, n, shape, families=None):
        transfer, info = draw(rng, n, shape, families)
        ky, kx = psf._frequencies(shape)
        sigma = np.sqrt(3.0) * info['fwhm'] / 2.355                   # (n, 5)
        blur = np.exp(-2 * np.pi ** 2 * (ky ** 2 + kx ** 2)[None, None]
                      * sigma[:, :, None, None] ** 2)
        return (transfer * blur).astype(np.complex64), info

    with _patched(candidates, 'draw_psfs', draw_wide):
        return candidates.simulate_candidates(n_per_class, seed=seed)[0]


def off_centre(n_per_class, seed, offset=4.0):
    """Simulator candidates 4 px from the centre, along a random axis and sign."""
    from starcnet.simulation import candidates

    with _patched(candidates, 'HALF', np.array([candidates.HALF + offset,
                                                candidates.HALF])):
        x = candidates.simulate_candidates(n_per_class, seed=seed)[0]
    # +x as rendered; turn each by a random multiple of 90 degrees
    turns = np.random.default_rng(seed + 1).integers(0, 4, len(x))
    return np.stack([np.rot90(c, k, axes=(1, 2)) for c, k in zip(x, turns)]).copy()


def in_distribution(generators, n_per_class, seed, workers, cache):
    """
    ``(cutouts, labels, generator)``: ``n_per_class`` candidates per class
    in all, shared equally by ``generators`` (each seeded with ``seed``);
    ``generator`` names the one that made each candidate.
    """
    n = max(1, n_per_class // len(generators))
    cutouts, labels = mixed_set(generators, n, 0, seeds={g: (seed,) for g in generators},
                                workers=workers, cache=cache)
    # mixed_set puts each generator's class-balanced 4 n candidates in turn
    return cutouts, labels, np.repeat(generators, len(labels) // len(generators))


def make_shifts(test, n_per_class, workers, cache, t0, skip=()):
    """The shifted sets; ``skip``: generators that are no shift here."""
    shifts = {}
    for name in GENERATOR_SHIFTS:
        if name in skip:
            continue
        n = n_per_class if name != 'popsim' else max(1, n_per_class // 2)
        shifts[name] = simulated_set(name, n, SHIFT_SEEDS[name], workers=workers,
                                     cache=cache)[0]
        _log(f'{name}: {len(shifts[name])} candidates', t0)
    shifts['blank sky'] = blank_sky(4 * n_per_class, SHIFT_SEEDS['blank sky'])
    shifts['saturated star'] = saturated_stars(test, SHIFT_SEEDS['saturated star'])
    shifts['bands shuffled'] = shuffled_bands(test, SHIFT_SEEDS['bands shuffled'])
    shifts['counts'] = in_counts(test, SHIFT_SEEDS['counts'])
    shifts['PSF x2'] = wide_psf(n_per_class, SHIFT_SEEDS['PSF x2'])
    _log(f'PSF x2: {len(shifts["PSF x2"])} candidates', t0)
    shifts['off-centre 4 px'] = off_centre(n_per_class, SHIFT_SEEDS['off-centre 4 px'])
    _log(f'off-centre: {len(shifts["off-centre 4 px"])} candidates', t0)
    return shifts


# -- scores ----------------------------------------------------------------------

def score_all(predictor, entries, cutouts):
    """
    Scores of every entry on ``cutouts`` (one network pass), and of the
    `CENTRE_ROWS` that apply: ``{row: (score, threshold)}``.
    """
    from starcnet.models import uncertainty as unc

    logits, features = predictor.logits(cutouts, return_features=True)
    scores = {kind: (unc.ood_score(ood, logits=logits, features=features, cutouts=cutouts),
                     ood['threshold'])
              for kind, ood in entries.items()}
    rise = unc.centre_rise(cutouts)
    if 'centre' in entries.get('combined', {}):
        scores['centre'] = rise, entries['combined']['centre']['threshold']
    shipped = entries.get('shipped', {})
    if 'centre' in shipped:
        centre = shipped['centre']['threshold']
        scores['shipped centre'] = rise, centre
        if shipped['threshold'] > 0 and centre > 0:
            with np.errstate(invalid='ignore'):
                either = np.fmax(scores['shipped'][0] / shipped['threshold'], rise / centre)
            scores['shipped either'] = np.where(np.isnan(scores['shipped'][0]), np.nan,
                                                either), 1.0
    return scores


def evaluate(model, fit, test, shifts, t0, write_registry=False):
    from starcnet.metrics import auroc
    from starcnet.models import Predictor
    from starcnet.models import uncertainty as unc

    predictor = Predictor.from_model(model, device='cpu')
    description, generators = trained_on(model)
    fitted_on = (f'{" + ".join(generators)} candidates, seed {FIT_SEED} ({len(fit[0])}, '
                 'class-balanced; moments on half, scales and threshold on the other half)')
    # one network pass for the five kinds: what fit_ood(predictor, fit[0],
    # fit[1], kind=kind, quantile=0.99) gives, kind by kind
    logits, features = predictor.logits(fit[0], return_features=True)
    # no energy score for an ensemble: its combined logits are the log of
    # the mean member probability, whose energy is 0 for every cutout
    kinds = [k for k in KINDS if not (k == 'energy' and predictor.is_ensemble)]
    # 'rarest' and 'evidence' are the combined entry with the evidence of
    # its parts, the largest and the summed
    entries = {kind: unc._fit_from_outputs(
        logits, features, fit[0], fit[1], None,
        kind='combined' if kind in EVIDENCE_ROWS else kind, quantile=0.99,
        fitted_on=fitted_on, evidence=EVIDENCE_ROWS.get(kind)) for kind in kinds}
    _log(f'{model}: fitted {", ".join(kinds)}', t0)
    # the entry the model ships with (its file, or the registry)
    shipped = predictor.info.ood
    if shipped is not None:
        entries['shipped'] = shipped
    scores_in = score_all(predictor, entries, test[0])
    result = {'model': model, 'trained_on': description,
              'in_distribution': list(generators),
              'n_fit': len(fit[0]), 'n_test': len(test[0]), 'kinds': {}}
    for kind, (score, threshold) in scores_in.items():
        flagged = unc.ood_flags(score, {'threshold': threshold})
        result['kinds'][kind] = {
            'threshold': threshold,
            'kind': entries[kind]['kind'] if kind in entries else 'centre_rise',
            'in_distribution_flag_rate': float(flagged.mean()),
            'auroc': {}, 'flag_rate': {}}
    # the shifts rendered by a patched starcnet.simulation are compared with
    # the in-distribution candidates of starcnet.simulation itself
    own = test[2] == 'starcnet'
    for name, cutouts in shifts.items():
        scores = score_all(predictor, entries, cutouts)
        for kind, (score, threshold) in scores.items():
            row = result['kinds'][kind]
            inside = scores_in[kind][0]
            reference = inside[own] if name in SIMULATOR_SHIFTS else inside
            row['auroc'][name] = auroc(reference, score)
            row['flag_rate'][name] = float(
                unc.ood_flags(score, {'threshold': threshold}).mean())
        result.setdefault('n_shift', {})[name] = len(cutouts)
    _log(f'{model}: scored the test set and {len(shifts)} shifts', t0)
    if write_registry:
        write_registry_entry(model, entries['combined'])
        _log(f'wrote the combined entry of {model} into the registry', t0)
    return result


def write_registry_entry(model, ood):
    """
    Put ``ood`` into ``model``'s entry of starcnet/models/registry.json,
    leaving the rest of the file as it is written (lists of numbers of
    the entry on one line each).
    """
    from starcnet.io._atomic import atomic_write

    path = REPO / 'starcnet' / 'models' / 'registry.json'
    text = path.read_text(encoding='utf-8')
    data = json.loads(text)
    names = [entry['name'] for entry in data['models']]
    if model not in names:
        msg = f'{model} has no entry in {path}'
        raise SystemExit(msg)
    if 'ood' in data['models'][names.index(model)]:
        msg = f'the entry of {model} in {path} has an "ood" already: remove it first'
        raise SystemExit(msg)
    # the entry's last line, '      "license": ...' after its '"name": model'
    start = text.index(f'"name": {json.dumps(model)}')
    end = text.index('\n    }', start)
    block = json.dumps({'ood': ood}, indent=2, ensure_ascii=False)[1:-2].strip('\n')
    block = re.sub(r'\[\s*([-+0-9.eE,\s]+?)\s*\]',
                   lambda m: '[' + ' '.join(m.group(1).split()) + ']', block)
    block = '\n'.join('    ' + line for line in block.split('\n'))
    text = text[:end] + ',\n' + block + text[end:]
    json.loads(text)                                    # still valid

    def write(tmp):
        Path(tmp).write_text(text, encoding='utf-8')

    atomic_write(os.fspath(path), write, overwrite=True)


# -- output ------------------------------------------------------------------------

def _simple_table(header, rows):
    widths = [max(len(str(r[i])) for r in [header] + rows) for i in range(len(header))]

    def line(cells):
        return '  '.join(str(c).ljust(w) for c, w in zip(cells, widths)).rstrip()

    rule = '  '.join('=' * w for w in widths)
    return [rule, line(header), rule] + [line(r) for r in rows] + [rule, '']


def table_inc(results):
    """
    Two reST tables, one row per model and score, one column per shift:
    the AUROC, and the fraction flagged at the score's threshold.
    """
    header = ['model', 'score', 'in-dist. flagged'] + list(SHIFTS)
    tables = {'auroc': [], 'flag_rate': []}
    for result in results:
        for kind in KINDS + ('shipped',) + CENTRE_ROWS:
            if kind not in result['kinds']:
                continue
            row = result['kinds'][kind]
            label = {**KIND_LABELS, **CENTRE_LABELS, 'shipped': 'shipped'}[kind]
            start = [result['model'], label,
                     f'{100 * row["in_distribution_flag_rate"]:.1f}%']
            tables['auroc'].append(start + [
                f'{row["auroc"][s]:.3f}' if s in row['auroc'] else 'trained'
                for s in SHIFTS])
            tables['flag_rate'].append(start + [
                f'{100 * row["flag_rate"][s]:.1f}%' if s in row['flag_rate']
                else 'trained' for s in SHIFTS])
    lines = ['.. This file is written by scripts/ood_table.py; do not edit.', '',
             'AUROC of each score, in-distribution test candidates against each shift:',
             '']
    lines += _simple_table(header, tables['auroc'])
    lines += ['Fraction of each set flagged OUT_OF_DISTRIBUTION at the score\'s '
              'threshold:', '']
    lines += _simple_table(header, tables['flag_rate'])
    return '\n'.join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--models', nargs='+',
                        default=[DEFAULT_MODEL, 'sim-small-v3', 'sim-small-v3-ensemble',
                                 'sim-small-v4', 'sim-small-v2'])
    parser.add_argument('--n-fit-per-class', type=int, default=500)
    parser.add_argument('--n-test-per-class', type=int, default=250)
    parser.add_argument('--n-shift-per-class', type=int, default=125,
                        help='candidates per class of each simulated shift '
                             '(popsim: half as many, it is slow)')
    parser.add_argument('--workers', type=int, default=2)
    parser.add_argument('--cache', default=None,
                        help='folder to keep the simulated sets in (reused)')
    parser.add_argument('--out-inc', default=str(REPO / 'docs' / 'ood_table.inc'))
    parser.add_argument('--out-json', default=str(REPO / 'docs' / 'ood_table.json'))
    parser.add_argument('--write-registry', action='store_true',
                        help='write the fitted combined entry of the first of --models '
                             'into starcnet/models/registry.json')
    parser.add_argument('--from-json', action='store_true',
                        help='only rewrite --out-inc from the figures in --out-json')
    args = parser.parse_args(argv)
    if args.from_json:
        results = json.loads(Path(args.out_json).read_text())['results']
        Path(args.out_inc).write_text(table_inc(results))
        return
    t0 = time.time()
    sets = {}            # the sets of each tuple of training generators
    results = []
    for model in args.models:
        generators = trained_on(model)[1]
        if generators not in sets:
            fit = in_distribution(generators, args.n_fit_per_class, FIT_SEED,
                                  args.workers, args.cache)
            test = in_distribution(generators, args.n_test_per_class, TEST_SEED,
                                   args.workers, args.cache)
            _log(f'in-distribution ({" + ".join(generators)}): {len(fit[0])} to fit, '
                 f'{len(test[0])} to test', t0)
            shifts = make_shifts(test[0], args.n_shift_per_class, args.workers,
                                 args.cache, t0, skip=generators)
            sets[generators] = fit, test, shifts
        fit, test, shifts = sets[generators]
        results.append(evaluate(model, fit, test, shifts, t0,
                                write_registry=args.write_registry and model == args.models[0]))
    summary = {'command': 'python scripts/ood_table.py ' + ' '.join(argv or sys.argv[1:]),
               'fit_seed': FIT_SEED, 'test_seed': TEST_SEED, 'shift_seeds': SHIFT_SEEDS,
               'results': results, 'run_time_s': round(time.time() - t0, 1)}
    Path(args.out_json).write_text(json.dumps(summary, indent=1) + '\n')
    Path(args.out_inc).write_text(table_inc(results))
    for result in results:
        for kind, row in result['kinds'].items():
            aurocs = ' '.join(f'{s}={v:.3f}' for s, v in row['auroc'].items())
            print(f'{result["model"]:13s} {kind:17s} in-dist flagged '
                  f'{100 * row["in_distribution_flag_rate"]:.2f}%  {aurocs}')
    _log(f'wrote {args.out_inc} and {args.out_json}', t0)


if __name__ == '__main__':
    main()
