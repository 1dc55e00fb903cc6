# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""Numbers the ``mgesim`` generator is calibrated on.

Everything here is either an instrument fact (zeropoints, exposure times, sky)
or a compact summary of real LEGUS data, recomputed by
``python scripts/validate_mgesim.py --derive`` from the 33 labelled LEGUS
catalogs (Adamo et al. 2017) and from Ryon et al. (2017).
"""
import numpy as np

__all__ = ['BANDS', 'ZEROPOINTS', 'EXPTIME', 'SKY', 'APCOR', 'PIXEL_ARCSEC',
           'PHOT_QUANTILES', 'PHOT_CORR', 'GALAXIES', 'RYON_LOGRE_PC',
           'NEIGHBOURS_PER_CUTOUT']

BANDS = ('F275W', 'F336W', 'F438W', 'F555W', 'F814W')
#: Vega zeropoints (mag of 1 e-/s).
ZEROPOINTS = np.array([22.65, 23.46, 24.98, 25.81, 24.67])
#: Typical LEGUS total exposure times (s).
EXPTIME = np.array([2400., 1100., 900., 1100., 900.])
#: Typical sky (e-/s/px) before sky subtraction (sets the sky Poisson noise).
SKY = np.array([0.0015, 0.004, 0.012, 0.04, 0.04])
#: Read noise per exposure (e-) and dark current (e-/s/px).
READ_NOISE = 3.0
DARK = 0.002
#: Average aperture correction (mag, total minus 4 px aperture) that the
#: catalog magnitudes are assumed to contain; the generator scales each
#: candidate so that its 4 px aperture flux plus this correction gives the
#: drawn catalog magnitude.
APCOR = np.array([-0.80, -0.72, -0.68, -0.66, -0.75])
PIXEL_ARCSEC = 0.0396

# Gaussian copula of (F555W, F275W-F336W, F336W-F438W, F438W-F555W,
# F555W-F814W) per class: 21 quantiles (0, 5, ..., 100 %) of each marginal
# (real candidates detected in all five bands) and the correlation matrix of
# their normal scores.
PHOT_QUANTILES = {
    1: [[15.51, 19.93, 20.57, 20.95, 21.23, 21.46, 21.65, 21.89, 22.08, 22.26, 22.42,
         22.58, 22.77, 22.90, 23.04, 23.21, 23.36, 23.51, 23.66, 23.84, 24.67],
        [-4.32, -0.56, -0.47, -0.40, -0.34, -0.29, -0.25, -0.20, -0.16, -0.11, -0.06,
         0.01, 0.08, 0.17, 0.27, 0.37, 0.50, 0.65, 0.84, 1.13, 6.33],
        [-2.97, -1.50, -1.37, -1.25, -1.06, -0.89, -0.75, -0.66, -0.55, -0.47, -0.38,
         -0.31, -0.24, -0.18, -0.10, -0.04, 0.02, 0.10, 0.17, 0.35, 2.72],
        [-1.37, -0.11, -0.04, 0.02, 0.05, 0.08, 0.11, 0.14, 0.17, 0.19, 0.22,
         0.25, 0.29, 0.35, 0.40, 0.48, 0.57, 0.66, 0.74, 0.91, 2.24],
        [-1.01, -0.16, 0.12, 0.28, 0.35, 0.40, 0.46, 0.49, 0.53, 0.57, 0.61,
         0.65, 0.69, 0.74, 0.79, 0.85, 0.95, 1.04, 1.11, 1.24, 2.75]],
    2: [[16.09, 20.07, 20.58, 20.98, 21.22, 21.42, 21.62, 21.77, 21.97, 22.19, 22.36,
         22.54, 22.71, 22.85, 23.02, 23.14, 23.30, 23.46, 23.66, 23.87, 24.72],
        [-4.31, -0.62, -0.55, -0.51, -0.46, -0.42, -0.39, -0.36, -0.32, -0.28, -0.24,
         -0.21, -0.16, -0.12, -0.07, -0.01, 0.07, 0.19, 0.33, 0.65, 5.80],
        [-3.08, -1.60, -1.53, -1.48, -1.43, -1.37, -1.31, -1.22, -1.11, -1.01, -0.89,
         -0.78, -0.66, -0.56, -0.47, -0.36, -0.27, -0.15, -0.01, 0.16, 4.44],
        [-0.49, -0.18, -0.12, -0.08, -0.04, -0.01, 0.02, 0.06, 0.09, 0.12, 0.15,
         0.18, 0.22, 0.26, 0.30, 0.35, 0.39, 0.47, 0.60, 0.77, 2.50],
        [-1.46, -0.27, -0.12, -0.03, 0.04, 0.13, 0.23, 0.30, 0.37, 0.42, 0.49,
         0.54, 0.58, 0.63, 0.68, 0.73, 0.80, 0.89, 1.00, 1.17, 2.70]],
    3: [[17.58, 20.59, 21.01, 21.30, 21.51, 21.72, 21.93, 22.09, 22.25, 22.40, 22.54,
         22.72, 22.87, 23.02, 23.14, 23.28, 23.45, 23.59, 23.75, 23.95, 24.80],
        [-1.78, -0.67, -0.59, -0.55, -0.52, -0.49, -0.46, -0.43, -0.40, -0.37, -0.34,
         -0.31, -0.27, -0.23, -0.18, -0.14, -0.08, 0.01, 0.13, 0.40, 3.47],
        [-2.27, -1.66, -1.60, -1.54, -1.50, -1.46, -1.42, -1.37, -1.33, -1.28, -1.22,
         -1.16, -1.07, -0.97, -0.87, -0.75, -0.63, -0.45, -0.28, -0.03, 3.87],
        [-2.79, -0.22, -0.16, -0.13, -0.10, -0.07, -0.05, -0.02, 0.01, 0.04, 0.06,
         0.09, 0.13, 0.16, 0.21, 0.25, 0.31, 0.38, 0.47, 0.63, 2.03],
        [-1.05, -0.27, -0.16, -0.08, -0.02, 0.05, 0.10, 0.16, 0.23, 0.30, 0.37,
         0.44, 0.51, 0.57, 0.64, 0.71, 0.80, 0.92, 1.06, 1.25, 2.43]],
    4: [[15.22, 20.30, 20.92, 21.26, 21.51, 21.76, 21.98, 22.19, 22.36, 22.52, 22.67,
         22.80, 22.94, 23.11, 23.27, 23.41, 23.59, 23.74, 23.90, 24.12, 25.70],
        [-4.69, -0.80, -0.67, -0.60, -0.55, -0.51, -0.47, -0.43, -0.39, -0.35, -0.31,
         -0.26, -0.21, -0.16, -0.09, -0.01, 0.09, 0.22, 0.47, 0.94, 9.48],
        [-10.18, -1.64, -1.54, -1.48, -1.42, -1.36, -1.30, -1.24, -1.17, -1.10, -1.02,
         -0.95, -0.85, -0.75, -0.63, -0.50, -0.36, -0.19, 0.01, 0.36, 4.50],
        [-3.89, -0.23, -0.16, -0.11, -0.06, -0.02, 0.02, 0.06, 0.10, 0.14, 0.18,
         0.22, 0.27, 0.33, 0.39, 0.47, 0.55, 0.68, 0.86, 1.23, 8.92],
        [-6.65, -0.29, -0.15, -0.05, 0.05, 0.14, 0.23, 0.32, 0.40, 0.47, 0.54,
         0.62, 0.71, 0.79, 0.88, 0.97, 1.08, 1.21, 1.38, 1.67, 4.72]],
}
PHOT_CORR = {
    1: [[1.0, 0.057, 0.137, -0.0, 0.2], [0.057, 1.0, 0.406, 0.463, 0.406],
        [0.137, 0.406, 1.0, 0.402, 0.503], [-0.0, 0.463, 0.402, 1.0, 0.436],
        [0.2, 0.406, 0.503, 0.436, 1.0]],
    2: [[1.0, 0.161, 0.145, 0.126, 0.281], [0.161, 1.0, 0.342, 0.405, 0.31],
        [0.145, 0.342, 1.0, 0.421, 0.503], [0.126, 0.405, 0.421, 1.0, 0.425],
        [0.281, 0.31, 0.503, 0.425, 1.0]],
    3: [[1.0, 0.139, 0.061, 0.068, 0.236], [0.139, 1.0, 0.371, 0.352, 0.328],
        [0.061, 0.371, 1.0, 0.408, 0.514], [0.068, 0.352, 0.408, 1.0, 0.504],
        [0.236, 0.328, 0.514, 0.504, 1.0]],
    4: [[1.0, -0.062, -0.088, -0.046, 0.195], [-0.062, 1.0, 0.233, 0.161, 0.179],
        [-0.088, 0.233, 1.0, 0.297, 0.35], [-0.046, 0.161, 0.297, 1.0, 0.36],
        [0.195, 0.179, 0.35, 0.36, 1.0]],
}

# Labelled LEGUS fields: (name, approximate distance in Mpc after Calzetti et
# al. 2015, labelled candidates of classes 1-4 passing the selection, 2nd
# percentile of their catalog CI, used as the field's CI selection cut).
GALAXIES = [
    ('eso486-g021', 9.5, (5, 12, 15, 54), 1.310),
    ('ic4247', 5.1, (1, 4, 3, 37), 1.300),
    ('ic559', 5.3, (9, 12, 4, 18), 1.331),
    ('ngc1313-w', 4.39, (85, 191, 210, 373), 1.417),
    ('ngc1433', 8.3, (51, 61, 56, 137), 1.214),
    ('ngc1566', 18.0, (477, 404, 692, 877), 1.358),
    ('ngc1705', 5.1, (16, 13, 13, 54), 1.219),
    ('ngc3274', 6.55, (29, 29, 18, 76), 1.230),
    ('ngc3344', 7.0, (119, 118, 159, 161), 1.359),
    ('ngc3738', 4.9, (49, 93, 86, 214), 1.418),
    ('ngc4248', 7.8, (14, 3, 8, 27), 1.220),
    ('ngc4395-n', 4.3, (8, 12, 19, 19), 1.210),
    ('ngc4395-s', 4.3, (31, 64, 42, 31), 1.310),
    ('ngc4485', 7.6, (137, 161, 79, 486), 1.310),
    ('ngc45', 6.61, (45, 52, 20, 42), 1.236),
    ('ngc5238', 4.51, (4, 4, 1, 9), 1.350),
    ('ngc5253', 3.15, (20, 37, 23, 153), 1.316),
    ('ngc5474', 6.8, (48, 95, 34, 144), 1.425),
    ('ngc5477', 6.4, (5, 9, 9, 49), 1.300),
    ('ngc628-c', 9.9, (334, 357, 326, 542), 1.408),
    ('ngc628-e', 9.9, (92, 80, 87, 122), 1.317),
    ('ngc6503', 5.27, (71, 96, 131, 172), 1.261),
    ('ngc7793-e', 3.44, (32, 76, 83, 61), 1.236),
    ('ngc7793-w', 3.44, (51, 84, 86, 78), 1.308),
    ('ugc1249', 6.9, (13, 35, 40, 133), 1.300),
    ('ugc4305', 3.05, (16, 29, 40, 147), 1.300),
    ('ugc4459', 3.66, (2, 5, 3, 20), 1.320),
    ('ugc5139', 3.98, (2, 7, 7, 23), 1.300),
    ('ugc5340', 12.7, (18, 15, 18, 144), 1.410),
    ('ugc685', 4.37, (7, 4, 3, 6), 1.350),
    ('ugc695', 10.9, (4, 7, 6, 94), 1.260),
    ('ugc7242', 5.67, (3, 3, 3, 26), 1.307),
    ('ugca281', 5.9, (2, 9, 4, 34), 1.310),
]

# Deciles (0, 10, ..., 100 %) of log10 effective radius (pc) of real class 1
# and class 2 clusters in NGC 628 and NGC 1313 (Ryon et al. 2017): the GALFIT
# radius where the fit converged (-0.7 < log R < 1.3), else the CI-based one.
RYON_LOGRE_PC = {
    1: [-0.33, 0.11, 0.24, 0.33, 0.41, 0.47, 0.54, 0.59, 0.69, 0.82, 1.27],
    2: [-0.56, 0.08, 0.22, 0.34, 0.43, 0.49, 0.56, 0.61, 0.68, 0.78, 1.24],
}

#: Mean number of other catalog candidates within 22.6 px (the area of a
#: 32 x 32 cutout) of a labelled candidate, per class, from the catalogs' own
#: positions.
NEIGHBOURS_PER_CUTOUT = {1: 0.84, 2: 1.65, 3: 2.20, 4: 2.42}


def _tail_safe(q):
    """Replace the 0 % and 100 % quantiles by a mild extrapolation."""
    q = np.array(q, dtype=float)
    q[0] = max(q[0], q[1] - 1.5 * (q[2] - q[1]))
    q[-1] = min(q[-1], q[-2] + 1.5 * (q[-2] - q[-3]))
    return q


def draw_photometry(rng, cls, n=1):
    """Draw catalog-like Vega magnitudes in the five bands for a class.

    Parameters
    ----------
    rng : numpy.random.Generator
    cls : int
        LEGUS class 1-4.
    n : int

    Returns
    -------
    mags : ndarray, shape (n, 5)
    """
    corr = np.array(PHOT_CORR[cls])
    z = rng.multivariate_normal(np.zeros(5), corr, size=n)
    u = np.clip(0.5 * (1 + _erf(z / np.sqrt(2))), 0, 1)
    grid = np.linspace(0, 1, 21)
    f = np.column_stack([np.interp(u[:, j], grid, _tail_safe(PHOT_QUANTILES[cls][j]))
                         for j in range(5)])
    v, nuv_u, u_b, b_v, v_i = f.T
    b = v + b_v
    uu = b + u_b
    nuv = uu + nuv_u
    i = v - v_i
    return np.column_stack([nuv, uu, b, v, i])


def draw_field(rng, cls):
    """Draw a LEGUS field for a candidate of class ``cls`` (weighted by counts).

    Returns
    -------
    name : str
    distance_mpc : float
    ci_cut : float
    """
    w = np.array([g[2][cls - 1] for g in GALAXIES], dtype=float)
    k = rng.choice(len(GALAXIES), p=w / w.sum())
    g = GALAXIES[k]
    return g[0], g[1], g[3]


def pc_per_pixel(distance_mpc):
    """Parsecs per mosaic pixel at a distance (Mpc)."""
    return distance_mpc * 1e6 * PIXEL_ARCSEC / 206264.806


def draw_log_re_pc(rng, cls):
    """Draw log10 effective radius (pc) from the Ryon et al. deciles."""
    q = RYON_LOGRE_PC[1 if cls == 1 else 2]
    return float(np.interp(rng.uniform(), np.linspace(0, 1, 11), q))


def _erf(x):
    from scipy.special import erf
    return erf(x)
