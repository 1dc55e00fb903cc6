"""Derive the small per-class target table shipped with popsim.

Run once by hand (never imported by the package at run time)::

    python -m starcnet.evaluation.popsim._derive_targets /work/shared/data

Source: the 33 human-labelled public LEGUS cluster catalogs
(``hlsp_legus_hst_*_multiband_*_padagb-mwext-avgapcor.tab``, Adamo et al.
2017), human-class column as listed in ``legus/class_counts.txt``; NGC 4242
and NGC 4449 are skipped (no clean class column).  For every labelled object
(class 1-4) we keep the five Vega magnitudes (NaN for 99.999 = undetected and
66.666 = outside the footprint) and the CI.  A seeded random subsample of at
most ``NMAX`` objects per class (F555W detected, 0.5 < CI < 4; the few
CI values near 20 are catalog failures) is written to ``data/legus_targets.npz``.
"""
import sys
from pathlib import Path

import numpy as np

NMAX = 1500


def load_real(root):
    """Return dict class -> (n, 6) array (m275, m336, m438, m555, m814, CI)."""
    root = Path(root)
    cols = {}
    for line in (root / 'legus' / 'class_counts.txt').read_text().splitlines()[1:]:
        parts = line.split()
        if 'ok=True' in line:
            cols[parts[0]] = int(line.split(' col=')[1].split()[0])
    out = {k: [] for k in (1, 2, 3, 4)}
    for path in sorted((root / 'legus' / 'catalogs').glob('*.tab')):
        gal = path.name.split('_')[4]
        if gal not in cols:
            continue
        rows = []
        for line in path.read_text().splitlines():
            f = line.split()
            if len(f) > cols[gal]:
                rows.append([float(f[i]) for i in (5, 7, 9, 11, 13, 15, cols[gal])])
        arr = np.array(rows)
        cls = arr[:, 6].astype(int)
        vals = arr[:, :6].copy()
        mags = vals[:, :5]
        mags[(mags > 60) | (mags < 5)] = np.nan
        for k in out:
            out[k].append(vals[cls == k])
    return {k: np.concatenate(v) for k, v in out.items()}


def main(root):
    real = load_real(root)
    rng = np.random.default_rng(20170101)
    save = {}
    for k, arr in real.items():
        ok = np.isfinite(arr[:, 3]) & (arr[:, 5] > 0.5) & (arr[:, 5] < 4.0)
        arr = arr[ok]
        if len(arr) > NMAX:
            arr = arr[rng.choice(len(arr), NMAX, replace=False)]
        save[f'class{k}'] = arr.astype(np.float32)
        print(k, len(arr), np.nanpercentile(arr[:, 3], [5, 50, 95]),
              np.nanpercentile(arr[:, 5], [5, 25, 50, 75, 95]))
    out = Path(__file__).with_name('data') / 'legus_targets.npz'
    np.savez_compressed(out, **save)
    print(out, out.stat().st_size)


if __name__ == '__main__':
    main(sys.argv[1] if len(sys.argv) > 1 else '/work/shared/data')
