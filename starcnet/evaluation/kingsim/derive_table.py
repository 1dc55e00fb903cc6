"""Derive the small real-photometry table shipped with ``kingsim``.

Run once, offline, by a developer who has the public LEGUS catalogs::

    python -m starcnet.evaluation.kingsim.derive_table /work/shared/data

It reads the 35 public LEGUS cluster-candidate catalogs (Adamo et al. 2017,
HLSP of HST GO-13364) and the Ryon et al. (2017) radius tables, and writes
``legus_photometry.txt`` and ``ryon2017_reff.txt`` beside this file. The
package never reads ``/work/shared`` at run time; it reads only these files.
"""

import glob
import os
import sys

import numpy as np

__all__ = ["load_legus_labelled", "load_ryon", "main"]

#: Galaxies whose class column holds no clean 0-4 labels (see the data README).
_UNLABELLED = ("ngc4242", "ngc4449")


def _class_columns(data_dir):
    cols = {}
    with open(os.path.join(data_dir, "legus", "class_counts.txt")) as fh:
        next(fh)
        for line in fh:
            parts = line.split()
            if not parts:
                continue
            col = int(line.split(" col=")[1].split()[0])
            cols[parts[0]] = (col, "ok=True" in line)
    return cols


def load_legus_labelled(data_dir):
    """Read all labelled LEGUS candidates.

    Parameters
    ----------
    data_dir : str
        Folder holding ``legus/catalogs`` and ``legus/class_counts.txt``.

    Returns
    -------
    table : numpy.ndarray
        Shape (N, 13): galaxy index, 5 Vega magnitudes (F275W, F336W, F438W,
        F555W, F814W; 99.999 not detected, 66.666 outside footprint), their 5
        errors, CI, human class (1-4).
    galaxies : list of str
        Galaxy names, in the order of the index of column 0.
    """
    cols = _class_columns(data_dir)
    out, names = [], []
    pattern = os.path.join(data_dir, "legus", "catalogs", "*.tab")
    for path in sorted(glob.glob(pattern)):
        gal = os.path.basename(path).split("_")[4]
        col, ok = cols[gal]
        if not ok or gal in _UNLABELLED:
            continue
        gi = len(names)
        names.append(gal)
        with open(path) as fh:
            for line in fh:
                p = line.split()
                if len(p) <= col:
                    continue
                cls = float(p[col])
                if cls not in (1.0, 2.0, 3.0, 4.0):
                    continue
                # the NGC 1313 catalogs carry a second x, y pair before RA, Dec
                off = 2 if gal.startswith("ngc1313") else 0
                vals = [float(v) for v in p[5 + off:16 + off]]
                mags = vals[0:10:2]
                errs = vals[1:10:2]
                out.append([gi] + mags + errs + [vals[10], cls])
    return np.array(out), names


def load_ryon(data_dir):
    """Read the Ryon et al. (2017) GALFIT radii.

    Returns
    -------
    reff_pc : numpy.ndarray
        Effective radii in pc (GALFIT where the fit has eta > 1.3, else the
        CI-based radius).
    eta : numpy.ndarray
        EFF slopes (NaN where missing).
    fvis : numpy.ndarray
        Visual class (1 or 2).
    """
    from astropy.io import ascii

    r, e, f = [], [], []
    for name in ("ryon2017_ngc628c_table3_mrt.txt", "ryon2017_ngc1313_table4_mrt.txt"):
        t = ascii.read(os.path.join(data_dir, "ryon2017", name), format="mrt")
        lg = np.ma.filled(np.ma.asarray(t["logReff-gal"]).astype(float), np.nan)
        lc = np.ma.filled(np.ma.asarray(t["logReff-ci"]).astype(float), np.nan)
        eta = np.ma.filled(np.ma.asarray(t["Eta"]).astype(float), np.nan)
        # GALFIT radii of fits that ran to the eta = 1 boundary are unbounded
        # (log Reff up to 15); as Ryon et al. did, trust only eta > 1.3 fits.
        good = np.isfinite(lg) & (eta > 1.3) & (lg < 1.5)
        use = np.where(good, lg, lc)
        r.append(10 ** use)
        e.append(eta)
        f.append(np.asarray(t["fvis"], dtype=float))
    return np.concatenate(r), np.concatenate(e), np.concatenate(f)


def main(data_dir, n_per_class=1000, seed=2017):
    """Write the shipped tables (see the module docstring)."""
    rng = np.random.default_rng(seed)
    tab, names = load_legus_labelled(data_dir)
    here = os.path.dirname(os.path.abspath(__file__))
    mags = tab[:, 1:6]
    inside = ~np.any(np.isclose(mags, 66.666), axis=1) & (mags[:, 3] < 60)
    rows = []
    for k in (1, 2, 3, 4):
        idx = np.flatnonzero(inside & (tab[:, 12] == k))
        pick = rng.choice(idx, size=min(n_per_class, idx.size), replace=False)
        rows.append(tab[np.sort(pick)])
    rows = np.vstack(rows)
    # detection limits: 97th percentile of detected magnitudes, per band
    lim = [np.percentile(mags[inside & (mags[:, b] < 60), b], 97) for b in range(5)]
    with open(os.path.join(here, "legus_photometry.txt"), "w") as fh:
        fh.write("# Derived from the public LEGUS cluster catalogs (Adamo et al. 2017; HLSP\n")
        fh.write("# hlsp_legus_hst_*_multiband_*_padagb-mwext-avgapcor.tab, 33 labelled\n")
        fh.write("# catalogs; ngc4242/ngc4449 excluded) by kingsim/derive_table.py: a seeded\n")
        fh.write(f"# random subsample of <= {n_per_class} human-labelled candidates per class,\n")
        fh.write("# rows outside any band footprint dropped. 99.999 = not detected.\n")
        fh.write("# detection_limits " + " ".join(f"{v:.2f}" for v in lim) + "\n")
        fh.write("# class m275 m336 m438 m555 m814 CI\n")
        for r in rows:
            m = " ".join(f"{v:.3f}" if v < 60 else "99.999" for v in r[1:6])
            fh.write(f"{int(r[12])} {m} {r[11]:.3f}\n")
    reff, eta, fvis = load_ryon(data_dir)
    with open(os.path.join(here, "ryon2017_reff.txt"), "w") as fh:
        fh.write("# Ryon et al. 2017, ApJ 841, 92, tables 3 (NGC 628) and 4 (NGC 1313):\n")
        fh.write("# effective radius (pc; GALFIT, or from CI where the fit failed), EFF eta\n")
        fh.write("# (nan = no fit) and visual class. Written by kingsim/derive_table.py.\n")
        fh.write("# reff_pc eta fvis\n")
        for a, b, c in zip(reff, eta, fvis):
            fh.write(f"{a:.3f} {b:.2f} {int(c)}\n")


if __name__ == "__main__":  # pragma: no cover
    main(sys.argv[1] if len(sys.argv) > 1 else "/work/shared/data")
