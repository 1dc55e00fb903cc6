# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""
Compare simulated candidates with real human-labelled LEGUS candidates.

Run from the repository root (one command, fixed seed)::

    python scripts/calibrate_simulation.py [CATALOG_DIR] [--n-per-class 400]

``CATALOG_DIR`` holds the LEGUS ``hlsp_legus_*.tab`` catalogs; the default
is ``../shared/data/legus/catalogs`` relative to the repository.

What is measured
----------------
Simulated cutouts (`starcnet.simulation.simulate_candidates`) are measured
the way LEGUS measured its candidates, with photutils aperture photometry:

* position: a quadratic centroid of the F555W light (5x5 px box) near
  the cutout centre, as a detection algorithm would give;
* local sky: sigma-clipped median in an annulus of 7-8 px radius (LEGUS:
  1 px wide annulus at 7 px);
* CI: F555W magnitude in a 1 px radius aperture minus that in a 3 px
  radius aperture (LEGUS definition);
* magnitudes: 4 px radius apertures (the LEGUS photometric aperture) with
  an *average aperture correction* per band to total magnitude, computed
  like LEGUS did, from the simulated clusters (classes 1 and 2): the
  median of mag(r=10 px) - mag(r=4 px) for isolated bright ones.  Vega
  magnitudes use `starcnet.simulation.ZEROPOINTS`.
* detection: as in LEGUS, a band counts as detected when its magnitude
  error is at most 0.3 mag (error from the sky noise in the annulus and
  the source's Poisson noise).

Per class, the distributions of CI, F555W magnitude and the colours
F336W-F438W and F555W-F814W are compared with those of the labelled
objects of the same class in the real catalogs, pooled over galaxies
(only objects detected in the bands involved, and for the CI only
0 < CI < 5), with the two-sample Kolmogorov-Smirnov statistic
(`scipy.stats.ks_2samp`).  The table is printed and written to
``docs/simulation_ks_table.inc`` (included by ``docs/simulation.rst``).
"""

import argparse
import sys
import time
import warnings
from pathlib import Path

import numpy as np
from scipy.stats import ks_2samp

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from starcnet.simulation import BANDS, ZEROPOINTS, simulate_candidates  # noqa: E402

QUANTITIES = {  # name: (label, bands needed)
    'ci': ('CI (F555W, 1-3 px)', ('F555W',)),
    'mag_F555W': ('F555W mag', ('F555W',)),
    'F336W-F438W': ('F336W - F438W', ('F336W', 'F438W')),
    'F555W-F814W': ('F555W - F814W', ('F555W', 'F814W')),
}
TARGET = 0.15


def default_catalog_dir():
    return (REPO / '..' / 'shared' / 'data' / 'legus' / 'catalogs').resolve()


# ---------------------------------------------------------------------------
# real catalogs
# ---------------------------------------------------------------------------

def real_objects(catalog_dir):
    """Per-object arrays (class, ci, mag_<band>; NaN = not detected) of labelled objects."""
    from starcnet.catalogs import read_legus
    paths = sorted(Path(catalog_dir).glob('hlsp_legus_*.tab'))
    if not paths:
        raise SystemExit(f'no LEGUS catalogs (hlsp_legus_*.tab) in {catalog_dir}')
    cols = {q: [] for q in ('class', 'ci', *[f'mag_{b}' for b in BANDS])}
    for path in paths:
        with warnings.catch_warnings():
            warnings.simplefilter('ignore')
            t = read_legus(path)
        lab = ~np.ma.getmaskarray(t['human_class'])
        if not lab.any():
            continue
        cols['class'].append(np.asarray(t['human_class'])[lab])
        cols['ci'].append(np.asarray(t['ci'].value)[lab])
        for b in BANDS:
            m = t[f'mag_{b}']
            cols[f'mag_{b}'].append(np.ma.filled(
                np.ma.masked_array(np.asarray(m.value), np.ma.getmaskarray(m)),
                np.nan)[lab])
    return {k: np.concatenate(v) for k, v in cols.items()}


def real_quantities(catalog_dir):
    """Per class: dict quantity -> values of labelled objects (detected)."""
    return _quantities(real_objects(catalog_dir))


def _quantities(data):
    """dict of arrays (class, ci, mag_<band>, NaN = not detected) -> per class."""
    out = {}
    ci = np.where((data['ci'] > 0) & (data['ci'] < 5), data['ci'], np.nan)
    values = {
        'ci': np.where(np.isfinite(data['mag_F555W']), ci, np.nan),
        'mag_F555W': data['mag_F555W'],
        'F336W-F438W': data['mag_F336W'] - data['mag_F438W'],
        'F555W-F814W': data['mag_F555W'] - data['mag_F814W'],
    }
    for k in (1, 2, 3, 4):
        sel = data['class'] == k
        out[k] = {q: v[sel][np.isfinite(v[sel])] for q, v in values.items()}
    return out


# ---------------------------------------------------------------------------
# simulated candidates
# ---------------------------------------------------------------------------

def measure(cutouts):
    """
    LEGUS-like photutils aperture photometry of (N, 5, 32, 32) cutouts.

    Returns positions (N, 2), magnitudes (N, 5, 4) in apertures of radius
    1, 3, 4 and 10 px (sky-subtracted, no aperture correction) and the
    error of the 4 px magnitude (N, 5).
    """
    from astropy.stats import sigma_clipped_stats
    from photutils.aperture import CircularAnnulus, CircularAperture
    n = cutouts.shape[0]
    v = BANDS.index('F555W')
    radii = (1.0, 3.0, 4.0, 10.0)
    pos = np.empty((n, 2))
    flux = np.full((n, 5, len(radii)), np.nan)
    err4 = np.full((n, 5), np.nan)
    for i in range(n):
        pos[i] = _centroid(cutouts[i, v])
        masks = [CircularAperture(pos[i], r).to_mask(method='exact') for r in radii]
        areas = [np.pi * r ** 2 for r in radii]
        ann = CircularAnnulus(pos[i], 7.0, 8.0).to_mask(method='center')
        for b in range(5):
            img = cutouts[i, b].astype(float)
            values = ann.get_values(img)
            _, sky, sky_std = sigma_clipped_stats(values, sigma=3.0, maxiters=5)
            for j, m in enumerate(masks):
                flux[i, b, j] = np.sum(m.get_values(img)) - sky * areas[j]
            # sky noise over the aperture + Poisson noise of the source
            # (exposure ~ 1000 s as in LEGUS)
            f4 = flux[i, b, 2]
            var = sky_std ** 2 * areas[2] + max(f4, 0) / 1000.0
            err4[i, b] = 1.0857 * np.sqrt(var) / f4 if f4 > 0 else np.inf
    zp = np.array([ZEROPOINTS[b] for b in BANDS])
    with np.errstate(invalid='ignore', divide='ignore'):
        mags = zp[None, :, None] - 2.5 * np.log10(flux)
    return pos, mags, err4


def _centroid(img):
    """Quadratic centroid (5x5 px) of the F555W peak near the cutout centre."""
    from photutils.centroids import centroid_quadratic
    bg = np.median(img)
    sub = img - bg
    # peak within 2 px of the nominal centre (15.5, 15.5)
    box = sub[13:19, 13:19]
    iy, ix = np.unravel_index(np.argmax(box), box.shape)
    xp, yp = 13 + ix, 13 + iy
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        x, y = centroid_quadratic(sub, xpeak=xp, ypeak=yp, fit_boxsize=5)
    if not (np.isfinite(x) and np.isfinite(y)) or abs(x - xp) > 1.5 or abs(y - yp) > 1.5:
        x, y = float(xp), float(yp)
    return x, y


def simulated_quantities(n_per_class, seed):
    cutouts, labels = simulate_candidates(n_per_class, seed=seed)
    _, mags, err = measure(cutouts)
    # average aperture correction per band (LEGUS: from isolated clusters)
    clusters = (labels <= 2) & np.all(err < 0.05, axis=1)
    apcor = np.nanmedian(mags[clusters, :, 3] - mags[clusters, :, 2], axis=0)
    total = mags[:, :, 2] + apcor[None]
    detected = np.isfinite(total) & (err <= 0.3)
    total = np.where(detected, total, np.nan)
    ci = mags[:, BANDS.index('F555W'), 0] - mags[:, BANDS.index('F555W'), 1]
    data = {'class': labels, 'ci': ci}
    for b, band in enumerate(BANDS):
        data[f'mag_{band}'] = total[:, b]
    return _quantities(data), apcor


# ---------------------------------------------------------------------------
# table
# ---------------------------------------------------------------------------

def ks_table(real, sim):
    rows = []
    for k in (1, 2, 3, 4):
        for q in QUANTITIES:
            a, b = real[k][q], sim[k][q]
            d = ks_2samp(a, b).statistic if len(a) and len(b) else np.nan
            rows.append((k, q, len(a), np.median(a), len(b), np.median(b), d))
    return rows


def bundled_table_check(real):
    """KS of the bundled legus_class_photometry.ecsv against all labelled objects."""
    from starcnet.simulation import load_class_photometry
    t = load_class_photometry()
    data = {'class': np.asarray(t['class']), 'ci': np.asarray(t['ci'], dtype=float)}
    for b in BANDS:
        m = np.asarray(t[f'mag_{b}'], dtype=float)
        data[f'mag_{b}'] = np.where(m < 60, m, np.nan)
    tab = _quantities(data)
    head = ('Class', 'N table', 'N real', *[QUANTITIES[q][0] for q in QUANTITIES])
    body = [(str(k), str(int(np.sum(data['class'] == k))),
             str(len(real[k]['mag_F555W'])),
             *[f'{ks_2samp(real[k][q], tab[k][q]).statistic:.3f}' for q in QUANTITIES])
            for k in (1, 2, 3, 4)]
    return _rst(head, body)


def _rst(head, body):
    widths = [max(len(h), *(len(r[i]) for r in body)) for i, h in enumerate(head)]
    sep = '  '.join('=' * w for w in widths)
    line = lambda r: '  '.join(c.ljust(w) for c, w in zip(r, widths)).rstrip()  # noqa: E731
    return '\n'.join([sep, line(head), sep, *[line(r) for r in body], sep]) + '\n'


def format_rst(rows):
    head = ('Class', 'Quantity', 'N real', 'median real', 'N sim', 'median sim',
            'KS D')
    body = [(str(k), QUANTITIES[q][0], str(na), f'{ma:.2f}', str(nb), f'{mb:.2f}',
             f'{d:.3f}' + (' *' if d > TARGET else ''))
            for k, q, na, ma, nb, mb, d in rows]
    return _rst(head, body)


CALIBRATION = REPO / 'starcnet' / 'data' / 'simulation_calibration.ecsv'


def update_calibration(real, sim):
    """
    Shift the per-class magnitude offsets so median measured F555W
    magnitudes of simulated candidates match the real ones.

    The simulator draws a real object's catalog magnitudes as *total*
    magnitudes of its model; aperture photometry of the rendered model
    (4 px aperture, local sky at 7-8 px, average aperture correction)
    recovers less light for extended or multi-peaked objects, as it did
    for the real objects.  The offset (added to all bands: colours are
    left alone) compensates.
    """
    from astropy.table import Table
    old = Table.read(CALIBRATION, format='ascii.ecsv')
    dmag = dict(zip(np.asarray(old['class']), np.asarray(old['dmag'], dtype=float)))
    for k in (1, 2, 3, 4):
        delta = np.median(sim[k]['mag_F555W']) - np.median(real[k]['mag_F555W'])
        dmag[k] = round(dmag[k] - delta, 3)
    table = Table({'class': [1, 2, 3, 4], 'dmag': [dmag[k] for k in (1, 2, 3, 4)]})
    table.meta['comments'] = [
        'Per-class magnitude offsets of starcnet.simulation (added to the',
        'magnitudes drawn from legus_class_photometry.ecsv, all bands), so that',
        'LEGUS-like aperture photometry of simulated candidates (4 px aperture,',
        'sky annulus 7-8 px, average aperture correction) gives the median F555W',
        'magnitude of the real labelled objects of each class.  Negative =',
        'rendered brighter than the catalog magnitude (light lost outside the',
        'aperture or in the sky annulus for extended objects).',
        'Made by: python scripts/calibrate_simulation.py --update-calibration',
    ]
    table.write(CALIBRATION, format='ascii.ecsv', overwrite=True)
    offsets = ', '.join(f'class {k} {dmag[k]:+.3f}' for k in (1, 2, 3, 4))
    print(f'wrote {CALIBRATION}: {offsets}')


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[1],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('catalog_dir', nargs='?', default=str(default_catalog_dir()),
                        help='folder of LEGUS hlsp_legus_*.tab catalogs '
                        '(default: ../shared/data/legus/catalogs)')
    parser.add_argument('--n-per-class', type=int, default=400,
                        help='simulated candidates per class (default 400)')
    parser.add_argument('--seed', type=int, default=2024)
    parser.add_argument('--output', default=str(REPO / 'docs' / 'simulation_ks_table.inc'),
                        help='RST table to write (default docs/simulation_ks_table.inc); '
                        "'-' to write nothing")
    parser.add_argument('--update-calibration', action='store_true',
                        help='update the per-class magnitude offsets in '
                        'starcnet/data/simulation_calibration.ecsv from this run '
                        '(then rerun to see the effect)')
    args = parser.parse_args(argv)
    t0 = time.perf_counter()
    real = real_quantities(args.catalog_dir)
    sim, apcor = simulated_quantities(args.n_per_class, args.seed)
    rows = ks_table(real, sim)
    table = format_rst(rows)
    print(table)
    print('aperture corrections (mag, r=4 px -> r=10 px): '
          + ', '.join(f'{b} {a:+.3f}' for b, a in zip(BANDS, apcor)))
    worst = max(r[-1] for r in rows)
    n_off = sum(r[-1] > TARGET for r in rows)
    print(f'max KS D = {worst:.3f}; {n_off} of {len(rows)} above the target '
          f'{TARGET} (marked *); {time.perf_counter() - t0:.0f} s')
    if args.update_calibration:
        update_calibration(real, sim)
    if args.output != '-':
        note = (f'.. Generated by scripts/calibrate_simulation.py '
                f'(seed {args.seed}, {args.n_per_class} simulated candidates per '
                'class); do not edit.\n\n')
        Path(args.output).write_text(note + table)
        print(f'wrote {args.output}')
    check = bundled_table_check(real)
    print('KS of starcnet/data/legus_class_photometry.ecsv against all labelled '
          'objects of the catalogs:')
    print(check)
    if args.output != '-':
        out = Path(args.output).with_name('simulation_table_check.inc')
        out.write_text('.. Generated by scripts/calibrate_simulation.py; do not edit.\n\n'
                       + check)
        print(f'wrote {out}')


if __name__ == '__main__':
    main()
