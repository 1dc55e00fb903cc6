#!/usr/bin/env python
# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""
Compare `starcnet.simulation` with real measurements beyond the marginals.

Run from the repository root (one command, fixed seed)::

    python scripts/compare_simulation.py [CATALOG_DIR] [--n-per-class 400]

Three tables, written into ``docs/`` and included by ``docs/simulation.rst``:

* ``simulation_joint_table.inc``: **joint** distributions per class.
  Simulated candidates are measured as in ``scripts/calibrate_simulation.py``
  (F555W centroid, annulus sky, CI, 4 px magnitudes with an average
  aperture correction); for pairs of CI, F555W magnitude and two colours,
  the Spearman rank correlation of the real labelled LEGUS objects and of
  the simulated ones, and a two-dimensional two-sample KS statistic
  (Fasano & Franceschini 1987: the largest difference of the fractions of
  points in the four quadrants around every point).
* ``simulation_ryon_table.inc``: cluster sizes.  Ryon et al. (2017) fitted
  EFF profiles with GALFIT to real class 1 and 2 clusters of NGC 628 and
  NGC 1313; their effective radii in LEGUS pixels (clusters with eta > 1,
  for which the radius is finite), in bins of the catalog CI, against the
  half-light radii (of the untruncated profiles) of the cluster models
  the simulator builds for real objects of the same class and CI; and
  the EFF slopes (eta) of Ryon's clusters against those drawn.
* ``simulation_crowding_table.inc``: crowding.  The number of catalog
  sources within 16 px of each labelled candidate, their separation and
  their F555W contrast, from the LEGUS catalogs' positions, against the
  neighbours the simulator places (drawn from those catalogs, plus the
  unlisted field stars it adds).
"""

import argparse
import sys
from pathlib import Path

import numpy as np
from scipy.stats import ks_2samp, spearmanr

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / 'scripts'))

import calibrate_simulation as cal  # noqa: E402
from starcnet.simulation import BANDS, simulate_candidates  # noqa: E402

PAIRS = (('ci', 'mag_F555W'), ('ci', 'F555W-F814W'), ('mag_F555W', 'F336W-F438W'),
         ('F336W-F438W', 'F555W-F814W'))
LABELS = {'ci': 'CI', 'mag_F555W': 'V', 'F336W-F438W': 'U-B', 'F555W-F814W': 'V-I'}


def _joint(data):
    """dict of per-object arrays -> per class (N, 4) of CI, V, U-B, V-I (finite)."""
    ci = np.where((data['ci'] > 0) & (data['ci'] < 5), data['ci'], np.nan)
    cols = np.column_stack([ci, data['mag_F555W'],
                            data['mag_F336W'] - data['mag_F438W'],
                            data['mag_F555W'] - data['mag_F814W']])
    out = {}
    for k in (1, 2, 3, 4):
        sel = (data['class'] == k) & np.all(np.isfinite(cols), axis=1)
        out[k] = cols[sel]
    return out


def simulated_objects(n_per_class, seed):
    cutouts, labels = simulate_candidates(n_per_class, seed=seed)
    _, mags, err = cal.measure(cutouts)
    clusters = (labels <= 2) & np.all(err < 0.05, axis=1)
    apcor = np.nanmedian(mags[clusters, :, 3] - mags[clusters, :, 2], axis=0)
    total = np.where(np.isfinite(mags[:, :, 2]) & (err <= 0.3),
                     mags[:, :, 2] + apcor[None], np.nan)
    v = BANDS.index('F555W')
    data = {'class': labels, 'ci': mags[:, v, 0] - mags[:, v, 1]}
    for b, band in enumerate(BANDS):
        data[f'mag_{band}'] = total[:, b]
    return data


def ks_2d(a, b):
    """Fasano-Franceschini two-sample 2-D KS statistic."""
    def fractions(points, data):
        gx = data[None, :, 0] > points[:, None, 0]
        gy = data[None, :, 1] > points[:, None, 1]
        return np.stack([(gx & gy).mean(1), (gx & ~gy).mean(1), (~gx & gy).mean(1),
                         (~gx & ~gy).mean(1)], axis=1)
    d1 = np.abs(fractions(a, a) - fractions(a, b)).max()
    d2 = np.abs(fractions(b, a) - fractions(b, b)).max()
    return 0.5 * (d1 + d2)


def joint_table(real, sim):
    head = ('Class', 'Pair', 'N real', 'N sim', 'Spearman real', 'Spearman sim',
            '2-D KS D')
    body = []
    index = {q: i for i, q in enumerate(('ci', 'mag_F555W', 'F336W-F438W',
                                         'F555W-F814W'))}
    for k in (1, 2, 3, 4):
        r, s = real[k], sim[k]
        for p, q in PAIRS:
            i, j = index[p], index[q]
            body.append((str(k), f'{LABELS[p]} vs {LABELS[q]}', str(len(r)), str(len(s)),
                         f'{spearmanr(r[:, i], r[:, j]).statistic:+.2f}',
                         f'{spearmanr(s[:, i], s[:, j]).statistic:+.2f}',
                         f'{ks_2d(r[:, [i, j]], s[:, [i, j]]):.3f}'))
    return cal._rst(head, body)


def _half_light_radius(kind, size, shape):
    """Half-light radius (px) of an untruncated, round profile of the simulator."""
    if kind in ('eff', 'sersic'):
        return float(size)          # both are parametrised by it
    r = np.linspace(0, 400 * size, 200001)
    if kind == 'king':
        edge = 1.0 / np.sqrt(1.0 + shape ** 2)
        prof = np.clip(1.0 / np.sqrt(1.0 + (r / size) ** 2) - edge, 0.0, None) ** 2
    elif kind == 'exp':
        prof = np.exp(-r / (size / 1.678))
    else:
        prof = np.exp(-0.5 * (r / (size / 1.1774)) ** 2)
    cum = np.cumsum(prof * r)
    return float(np.interp(0.5, cum / cum[-1], r))


def ryon_table(n_draws=300, seed=5):
    from starcnet.simulation import load_ryon2017
    from starcnet.simulation._data import photometry_arrays
    from starcnet.simulation.candidates import star_ci
    from starcnet.simulation.psf import draw_psfs, reference_psf
    from starcnet.simulation.recipes import _cluster_profile, size_for_ci
    rng = np.random.default_rng(seed)
    # the CI of a star through the PSFs the simulator draws, against the
    # reference PSF of its CI tables (as simulate_cutouts does)
    shape = (88, 88)
    shifts = (star_ci(draw_psfs(rng, 200, shape)[0], shape)
              - star_ci(reference_psf(shape)[None], shape)[0])
    ryon = load_ryon2017()
    classes, _, cis = photometry_arrays()
    rows = []
    bins = ((1.2, 1.5), (1.5, 1.7), (1.7, 2.0), (2.0, 3.0))
    sim_reff = {1: [], 2: []}
    sim_ci = {1: [], 2: []}
    sim_eta = {1: [], 2: []}
    for k in (1, 2):
        for ci in rng.choice(cis[classes == k], n_draws):
            kind, form = _cluster_profile(k, ci, rng)
            size = size_for_ci(ci, rng, kind, form, bias=0.04 if k == 1 else 0.0,
                               ci_shift=rng.choice(shifts))
            sim_reff[k].append(_half_light_radius(kind, size, form))
            sim_ci[k].append(ci)
            if kind == 'eff':
                sim_eta[k].append(form / 2)
    for k in (1, 2):
        # eta <= 1 has no finite effective radius (GALFIT's is then unreliable)
        sel = ((np.asarray(ryon['fvis']) == k) & np.isfinite(np.asarray(ryon['reff_px']))
               & (np.asarray(ryon['eta']) > 1.0) & (np.asarray(ryon['reff_px']) < 100))
        rc, rr = np.asarray(ryon['ci'])[sel], np.asarray(ryon['reff_px'])[sel]
        sc, sr = np.asarray(sim_ci[k]), np.asarray(sim_reff[k])
        for lo, hi in bins:
            a = rr[(rc >= lo) & (rc < hi)]
            b = sr[(sc >= lo) & (sc < hi)]
            if len(a) < 3 or len(b) < 3:
                continue
            rows.append((str(k), f'{lo:.1f}-{hi:.1f}', str(len(a)), f'{np.median(a):.2f}',
                         str(len(b)), f'{np.median(b):.2f}',
                         f'{ks_2samp(a, b).statistic:.3f}'))
    head = ('Class', 'CI bin', 'N Ryon', 'median reff Ryon (px)', 'N sim',
            'median reff sim (px)', 'KS D')
    size_table = cal._rst(head, rows)
    eta_rows = []
    for k in (1, 2):
        sel = (np.asarray(ryon['fvis']) == k) & np.isfinite(np.asarray(ryon['eta']))
        a = np.clip(np.asarray(ryon['eta'])[sel], 1.1, 4.0)
        b = np.asarray(sim_eta[k])
        eta_rows.append((str(k), str(len(a)), f'{np.median(a):.2f}', str(len(b)),
                         f'{np.median(b):.2f}', f'{ks_2samp(a, b).statistic:.3f}'))
    eta_table = cal._rst(('Class', 'N Ryon', 'median eta Ryon', 'N sim (EFF)',
                          'median eta sim', 'KS D'), eta_rows)
    return size_table, eta_table


def crowding_table(n_draws=2000, seed=6):
    from starcnet.simulation import load_crowding
    from starcnet.simulation.recipes import neighbours
    rng = np.random.default_rng(seed)
    table = load_crowding()
    rows = []
    for k in (1, 2, 3, 4):
        sel = table[table['class'] == k]
        n_real = np.asarray(sel['n_neighbours'])
        sep_real = np.concatenate([np.asarray(sel[f'sep_{i}']) for i in range(8)])
        dm_real = np.concatenate([np.asarray(sel[f'dmag_{i}']) for i in range(8)])
        sep_real, dm_real = sep_real[np.isfinite(sep_real)], dm_real[np.isfinite(dm_real)]
        draws = [neighbours(k, rng) for _ in range(n_draws)]
        n_sim = np.array([len(d[0]) for d in draws])
        sep_sim = np.concatenate([d[0] for d in draws])
        dm_sim = np.concatenate([d[1] for d in draws])
        rows.append((str(k), f'{np.mean(n_real):.2f} / {np.mean(n_sim):.2f}',
                     f'{np.mean(n_real > 0):.2f} / {np.mean(n_sim > 0):.2f}',
                     f'{np.median(sep_real):.1f} / {np.median(sep_sim):.1f}',
                     f'{np.median(dm_real):+.2f} / {np.median(dm_sim):+.2f}',
                     f'{ks_2samp(n_real, n_sim).statistic:.3f}',
                     f'{ks_2samp(sep_real, sep_sim).statistic:.3f}',
                     f'{ks_2samp(dm_real, dm_sim).statistic:.3f}'))
    head = ('Class', 'mean N (real / sim)', 'any (real / sim)',
            'median sep px (real / sim)', 'median dV (real / sim)', 'KS N', 'KS sep',
            'KS dV')
    return cal._rst(head, rows)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('catalog_dir', nargs='?', default=str(cal.default_catalog_dir()))
    parser.add_argument('--n-per-class', type=int, default=400)
    parser.add_argument('--seed', type=int, default=2025)
    parser.add_argument('--output-dir', default=str(REPO / 'docs'))
    args = parser.parse_args(argv)
    out = Path(args.output_dir)
    note = ('.. Generated by scripts/compare_simulation.py (seed {seed}); '
            'do not edit.\n\n').format(seed=args.seed)
    crowd = crowding_table()
    print(crowd)
    (out / 'simulation_crowding_table.inc').write_text(note + crowd)
    size_table, eta_table = ryon_table()
    print(size_table)
    print(eta_table)
    (out / 'simulation_ryon_table.inc').write_text(note + size_table + '\n' + eta_table)
    real = _joint(cal.real_objects(args.catalog_dir))
    sim = _joint(simulated_objects(args.n_per_class, args.seed))
    joint = joint_table(real, sim)
    print(joint)
    (out / 'simulation_joint_table.inc').write_text(note + joint)
    return 0


if __name__ == '__main__':
    sys.exit(main())
