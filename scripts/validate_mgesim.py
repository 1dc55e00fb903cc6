# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""Validate the ``mgesim`` evaluation generator against real LEGUS candidates.

Renders ``--n`` candidates per class, measures them LEGUS-style on the pixels
(CI from 1 px and 3 px radius apertures in F555W at the catalog position,
4 px radius aperture magnitudes with a local background from a 7-9 px
annulus and an average aperture correction) and compares each class with the
real labelled LEGUS candidates (F555W detected, 0.5 < CI < 4) by two-sample
Kolmogorov-Smirnov statistics. Writes an RST table to
``docs/mgesim_ks_table.inc``.

``--derive`` instead prints the calibration tables embedded in
``starcnet/evaluation/mgesim/calibration.py`` (recomputed from the catalogs).

Usage::

    OMP_NUM_THREADS=1 PYTHONPATH=. python scripts/validate_mgesim.py --n 300
"""
import argparse
import glob
import os
import re
import time

import numpy as np
from scipy.stats import ks_2samp, norm

DATA = '/work/shared/data'
BANDS = ('F275W', 'F336W', 'F438W', 'F555W', 'F814W')
ZP = np.array([22.65, 23.46, 24.98, 25.81, 24.67])
# 0-based column index of the human class, and offset of the x/y/mag/CI columns
CLASS_COL = {'ngc1313-e': 35, 'ngc1313-w': 35, 'ngc3351': 34, 'ngc45': 34}
COL_OFFSET = {'ngc1313-e': 2, 'ngc1313-w': 2}
UNLABELLED = ('ngc4242', 'ngc4449')


def load_legus(data=DATA):
    """Labelled LEGUS candidates: galaxy, class, five mags, CI (selection applied)."""
    out = []
    for path in sorted(glob.glob(os.path.join(data, 'legus', 'catalogs', '*.tab'))):
        gal = re.search(r'_(?:acs-wfc3|wfc3|acs)_(.+?)_multiband', path).group(1)
        if gal in UNLABELLED:
            continue
        d = np.loadtxt(path)
        off = COL_OFFSET.get(gal, 0)
        cls = d[:, CLASS_COL.get(gal, 33)]
        mags = d[:, [5 + off, 7 + off, 9 + off, 11 + off, 13 + off]]
        ci = d[:, 15 + off]
        keep = (cls >= 1) & (cls <= 4) & (mags[:, 3] < 50) & (ci > 0.5) & (ci < 4)
        for c, m, k in zip(cls[keep], mags[keep], ci[keep]):
            out.append((gal, int(c), m, k))
    gal = np.array([o[0] for o in out])
    cls = np.array([o[1] for o in out])
    mags = np.array([o[2] for o in out])
    ci = np.array([o[3] for o in out])
    return gal, cls, mags, ci


def derive():
    """Print the calibration tables used by ``mgesim.calibration``."""
    gal, cls, mags, ci = load_legus()
    qs = np.linspace(0, 1, 21)
    for k in range(1, 5):
        s = cls == k
        m = mags[s]
        det = np.all(m < 50, axis=1)
        m = m[det]
        feats = np.column_stack([m[:, 3], m[:, 0] - m[:, 1], m[:, 1] - m[:, 2],
                                 m[:, 2] - m[:, 3], m[:, 3] - m[:, 4]])
        print('class', k, 'n', s.sum(), 'all-band detected', det.sum())
        print('  quantiles (V, NUV-U, U-B, B-V, V-I):')
        for f in feats.T:
            print('   ', np.round(np.quantile(f, qs), 3).tolist())
        # Gaussian-copula correlation of normal scores
        z = np.column_stack([norm.ppf((np.argsort(np.argsort(f)) + 0.5) / len(f))
                             for f in feats.T])
        print('  corr:', np.round(np.corrcoef(z.T), 3).tolist())
    print('per galaxy: counts of classes 1-4 and 2nd percentile of CI')
    for g in np.unique(gal):
        s = gal == g
        print('   ', g, [int(((cls == k) & s).sum()) for k in range(1, 5)],
              round(float(np.quantile(ci[s], 0.02)), 3))


def _aperture_weights(cx, cy, radius, size=32, sub=8):
    """Exact-ish pixel weights of a circular aperture (sub x sub sampling)."""
    lo = int(np.floor(cx - radius - 1))
    hi = int(np.ceil(cx + radius + 1))
    lo_y = int(np.floor(cy - radius - 1))
    hi_y = int(np.ceil(cy + radius + 1))
    w = np.zeros((size, size))
    off = (np.arange(sub) + 0.5) / sub - 0.5
    for iy in range(max(lo_y, 0), min(hi_y + 1, size)):
        yy = iy + off[:, None] - cy
        for ix in range(max(lo, 0), min(hi + 1, size)):
            xx = ix + off[None, :] - cx
            w[iy, ix] = np.mean(xx * xx + yy * yy <= radius * radius)
    return w


def measure_at(cutouts, cx, cy):
    """CI and 4 px aperture mags (local background from a 7-9 px annulus)."""
    n = len(cutouts)
    ci = np.full(n, np.nan)
    mags = np.full((n, 5), np.nan)
    for i in range(n):
        w1 = _aperture_weights(cx[i], cy[i], 1.0)
        w3 = _aperture_weights(cx[i], cy[i], 3.0)
        w4 = _aperture_weights(cx[i], cy[i], 4.0)
        ann = _aperture_weights(cx[i], cy[i], 9.0) - _aperture_weights(cx[i], cy[i], 7.0)
        for b in range(5):
            img = cutouts[i, b].astype(float)
            bkg = np.median(img[ann > 0.5])
            f1 = np.sum(w1 * (img - bkg))
            f3 = np.sum(w3 * (img - bkg))
            f4 = np.sum(w4 * (img - bkg))
            if b == 3 and f1 > 0 and f3 > 0:
                ci[i] = -2.5 * np.log10(f1 / f3)
            if f4 > 0:
                mags[i, b] = ZP[b] - 2.5 * np.log10(f4)
    return ci, mags


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--n', type=int, default=300, help='candidates per class')
    parser.add_argument('--seed', type=int, default=1)
    parser.add_argument('--out', default=os.path.join('docs', 'mgesim_ks_table.inc'))
    parser.add_argument('--derive', action='store_true')
    args = parser.parse_args(argv)
    if args.derive:
        derive()
        return
    from starcnet.evaluation.mgesim import simulate_with_truth
    from starcnet.evaluation.mgesim.calibration import APCOR

    t0 = time.perf_counter()
    cut, lab, truth = simulate_with_truth(args.n, seed=args.seed)
    dt = time.perf_counter() - t0
    ci, mags = measure_at(cut, truth['x'], truth['y'])
    mags = mags + APCOR[None, :]
    gal, cls, rmags, rci = load_legus()
    rows = []
    for k in range(1, 5):
        s = lab == k
        r = cls == k
        sv = mags[s]
        rv = np.where(rmags[r] < 50, rmags[r], np.nan)
        stats = []
        for sim, real in [(ci[s], rci[r]), (sv[:, 3], rv[:, 3]),
                          (sv[:, 1] - sv[:, 3], rv[:, 1] - rv[:, 3]),
                          (sv[:, 3] - sv[:, 4], rv[:, 3] - rv[:, 4])]:
            ok = np.isfinite(sim)
            okr = np.isfinite(real)
            stats.append(ks_2samp(sim[ok], real[okr]).statistic)
        rows.append((k, int(s.sum()), int(r.sum()), stats,
                     np.nanmedian(ci[s]), np.median(rci[r])))
    lines = ['.. table:: Two-sample KS statistics, mgesim vs real LEGUS candidates '
             '(n=%d per class, seed %d)' % (args.n, args.seed), '',
             '   ===== ======= ======= ====== ====== ========= ========= ====== ======',
             '   class n_sim   n_real  KS CI  KS V   KS U-V    KS V-I    CI sim CI real',
             '   ===== ======= ======= ====== ====== ========= ========= ====== ======']
    for k, ns, nr, st, cs, cr in rows:
        lines.append('   %-5d %-7d %-7d %-6.3f %-6.3f %-9.3f %-9.3f %-6.3f %-6.3f'
                     % (k, ns, nr, st[0], st[1], st[2], st[3], cs, cr))
    lines.append(lines[2])
    text = '\n'.join(lines) + '\n'
    os.makedirs(os.path.dirname(args.out) or '.', exist_ok=True)
    with open(args.out, 'w') as fh:
        fh.write(text)
    print(text)
    print('render speed: %.1f candidates/s' % (len(lab) / dt))
    recipes, counts = np.unique(truth['recipe'], return_counts=True)
    print('recipes:', dict(zip(recipes.tolist(), counts.tolist())))


if __name__ == '__main__':
    main()
