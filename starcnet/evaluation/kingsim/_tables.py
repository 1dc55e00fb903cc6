"""Constants and data tables of the ``kingsim`` generator."""

import os

import numpy as np

#: Mosaic pixel scale, arcsec.
PIXEL_SCALE = 0.0396
_OS = 3  # sub-pixel sampling of every stamp (pixel integration)
_STAMP = 40  # stamp size for candidates, px
_BIG = 96  # stamp size for bright stars, px
_SOLVE = 32  # stamp size used to solve candidate sizes, px
_EXPTIME = np.array([2400.0, 1100.0, 900.0, 1100.0, 900.0])
_NEXP = 3
_READ_NOISE = 3.0
_FULL_WELL = 63000.0
# Moffat core FWHM range (px) per band; UV halo stronger.
_FWHM = np.array([[1.90, 2.30], [1.80, 2.20], [1.85, 2.25], [1.95, 2.35], [2.10, 2.50]])
_HALO_FRAC = np.array([[0.18, 0.28], [0.14, 0.24], [0.10, 0.18], [0.10, 0.16], [0.12, 0.20]])
# diffuse light (sky + galaxy) mean levels, e-/s/px, before the random scene factor
_SKY = np.array([0.0008, 0.002, 0.005, 0.015, 0.025])
_GAL = np.array([0.008, 0.085, 0.085, 0.105, 0.29])
_CLASS_CENTROID_ERR = {1: 0.15, 2: 0.3, 3: 0.5, 4: 0.3}
_HERE = os.path.dirname(os.path.abspath(__file__))


# ---------------------------------------------------------------- data tables
def _load_tables():
    lim = None
    with open(os.path.join(_HERE, "legus_photometry.txt")) as fh:
        for line in fh:
            if line.startswith("# detection_limits"):
                lim = np.array([float(v) for v in line.split()[2:]])
    phot = np.loadtxt(os.path.join(_HERE, "legus_photometry.txt"))
    ryon = np.loadtxt(os.path.join(_HERE, "ryon2017_reff.txt"))
    return phot, lim, ryon


_PHOT, _DETLIM, _RYON = _load_tables()
_ROWS = {k: _PHOT[_PHOT[:, 0] == k, 1:] for k in (1, 2, 3, 4)}


# ------------------------------------------------------------------ King table
def _king_reff_ratio():
    """Reff / rc of a projected King (1962) profile, on a grid of log c."""
    logc = np.linspace(0.3, 2.5, 45)
    ratio = np.empty_like(logc)
    for i, lc in enumerate(logc):
        c = 10**lc
        r = np.linspace(0, c, 20001)
        s = (1 / np.sqrt(1 + r**2) - 1 / np.sqrt(1 + c**2)) ** 2
        cum = np.cumsum(s * r)
        ratio[i] = np.interp(0.5 * cum[-1], cum, r)
    return logc, ratio


_KING_LOGC, _KING_RATIO = _king_reff_ratio()
