#!/usr/bin/env python
# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""
Regenerate the real-data tables and PSFs that `starcnet.simulation` reads.

Maintenance only: it needs the public reference data of the development
checkout (``../shared/data``), which the package never reads at run time.
One command writes everything into ``starcnet/data/``::

    python scripts/extract_simulation_data.py [SHARED_DATA_DIR]

What it writes, all from public data:

* ``psfs/wfc3_uvis_*.fits`` (F275W, F336W, F438W, F555W, F606W, F814W) and
  ``psfs/acs_wfc_*.fits`` (F435W, F555W, F606W, F814W): TinyTim model PSFs
  of drizzlepac 3.11.0, cropped to 41x41 px and renormalised.
* ``legus_class_photometry.ecsv``: magnitudes and CI of 750 human-labelled
  LEGUS objects per class (joint rows, so colours, magnitudes and CI keep
  their correlations).
* ``ryon2017_clusters.ecsv``: CI, EFF slope and effective radius (pc and
  LEGUS pixels) of the clusters fitted by Ryon et al. (2017) in NGC 628
  and NGC 1313, with the human class of the matching LEGUS catalog row.
* ``legus_crowding.ecsv``: for 750 labelled candidates per class, the
  catalog sources within 16 px (how many, at what separation, how much
  brighter or fainter in F555W).
"""

import argparse
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
DATA = REPO / 'starcnet' / 'data'

from starcnet.catalogs import read_legus  # noqa: E402

BANDS = ('F275W', 'F336W', 'F438W', 'F555W', 'F814W')
#: Distances (Mpc) of the two Ryon et al. (2017) galaxies (Calzetti et al. 2015).
RYON_DISTANCE = {'ngc628': 9.9, 'ngc1313': 4.39}
PIXEL_SCALE = 0.0396
#: Most neighbours kept per candidate in the crowding table.
MAX_NEIGHBOURS = 8
CROWDING_RADIUS = 16.0


def extract_psfs(psf_dir, half=20):
    """Crop the TinyTim PSFs to (2 * half + 1) px, renormalise, save."""
    from astropy.io import fits
    out = DATA / 'psfs'
    out.mkdir(parents=True, exist_ok=True)
    names = ([f'wfc3_uvis_{b.lower()}' for b in (*BANDS, 'F606W')]
             + [f'acs_wfc_{b}' for b in ('f435w', 'f555w', 'f606w', 'f814w')])
    for name in names:
        src = Path(psf_dir) / f'{name}.fits'
        with fits.open(src) as hdul:
            data = hdul[0].data.astype(np.float64)
            header = hdul[0].header
        iy, ix = np.unravel_index(np.argmax(data), data.shape)
        cy, cx = data.shape[0] // 2, data.shape[1] // 2
        if abs(iy - cy) > 1 or abs(ix - cx) > 1:
            msg = f'{src}: PSF peak at {(iy, ix)}, not at the centre {(cy, cx)}'
            raise ValueError(msg)
        cy, cx = iy, ix
        crop = data[cy - half:cy + half + 1, cx - half:cx + half + 1]
        kept = crop.sum() / data.sum()
        crop = (crop / crop.sum()).astype(np.float32)
        instrument, band = name.rsplit('_', 1)
        hdr = fits.Header()
        hdr['FILTER'] = (band.upper(), 'filter')
        hdr['INSTRUME'] = (instrument.upper(), 'Simulated instrument')
        hdr['PIXSCALE'] = (float(header.get('PIXSCALE', 0.0399 if 'wfc3' in name
                                            else 0.05)), 'Pixel scale of the model PSF')
        hdr['ORIGSIZE'] = (data.shape[0], 'Side of the original PSF (px)')
        hdr['FRACKEPT'] = (round(float(kept), 6), 'Flux fraction inside the crop')
        hdr['ORIGIN'] = 'TinyTim PSF from drizzlepac 3.11.0 drizzlepac/pars/psfs/'
        hdr['COMMENT'] = ('Cropped to 41x41 px around the peak and renormalised to '
                          'sum 1 by scripts/extract_simulation_data.py.')
        hdr['COMMENT'] = 'BSD-3-Clause, Space Telescope Science Institute.'
        fits.PrimaryHDU(crop, header=hdr).writeto(out / f'{name}.fits', overwrite=True)
        print(f'{name}: kept {kept:.4f} of the flux, peak {crop.max():.3f}')


def labelled_catalogs(legus_dir):
    """(galaxy, table) for every LEGUS catalog with a clean human-class column."""
    for path in sorted((Path(legus_dir) / 'catalogs').glob('*.tab')):
        table = read_legus(path)
        if 'human_class' not in table.colnames:
            continue
        yield path.name.split('_')[4], table


def _values(column):
    return np.ma.filled(np.ma.asarray(getattr(column, 'value', column)).astype(float),
                        np.nan)


def _per_class_subset(table, n_per_class, seed):
    """At most ``n_per_class`` random rows of each class 1-4, in table order."""
    rng = np.random.default_rng(seed)
    keep = []
    for k in (1, 2, 3, 4):
        idx = np.flatnonzero(table['class'] == k)
        keep.append(np.sort(rng.choice(idx, min(n_per_class, idx.size), replace=False)))
    return table[np.concatenate(keep)]


def extract_photometry(legus_dir, n_per_class=750, seed=12345):
    """Write ``legus_class_photometry.ecsv`` from the catalogs."""
    from astropy.table import Table
    rows = []
    for galaxy, table in labelled_catalogs(legus_dir):
        labels = np.ma.filled(table['human_class'], 0)
        mags = np.column_stack([_values(table[f'mag_{b}']) for b in BANDS])
        out = np.column_stack([~np.asarray(table[f'in_footprint_{b}']) for b in BANDS])
        ci = _values(table['ci'])
        for k in np.flatnonzero((labels >= 1) & (labels <= 4)):
            if out[k].any() or not (np.isfinite(mags[k, 3]) and 0.5 < ci[k] < 5):
                continue
            rows.append((galaxy, int(labels[k]),
                         *np.where(np.isfinite(mags[k]), mags[k], 99.999), ci[k]))
    table = _per_class_subset(Table(rows=rows, names=[
        'galaxy', 'class', *[f'mag_{b}' for b in BANDS], 'ci']), n_per_class, seed)
    for name in table.colnames[2:]:
        table[name] = np.round(table[name].astype(np.float32), 3)
    table.meta['comments'] = [
        'Per-class photometry of human-labelled LEGUS star-cluster candidates.',
        'Source: LEGUS cluster catalogs (HST GO-13364; Calzetti et al. 2015;',
        'Adamo et al. 2017), hlsp_legus_hst_*_multiband_*_padagb-mwext-avgapcor.tab,',
        'all labelled galaxies except ngc4242 and ngc4449 (no clean class column).',
        f'Random subset of at most {n_per_class} objects per class (seed {seed}),',
        'rows outside a band footprint (66.666) dropped; 99.999 = not detected.',
        'Columns: galaxy, human class (mode), Vega magnitudes (aperture corrected;',
        'F438W is F435W and F555W may be F606W on some fields), CI (mag, 1 vs 3 px).',
        'Made by: python scripts/extract_simulation_data.py',
    ]
    table.write(DATA / 'legus_class_photometry.ecsv', overwrite=True)
    print(f'legus_class_photometry.ecsv: {len(table)} rows')


def extract_ryon(shared):
    """Write ``ryon2017_clusters.ecsv``: Ryon+17 fits joined with LEGUS classes."""
    from astropy.io import ascii
    from astropy.table import Table, vstack
    parts = []
    for name, field in (('ryon2017_ngc628c_table3_mrt.txt', 'ngc628'),
                        ('ryon2017_ngc1313_table4_mrt.txt', 'ngc1313')):
        t = ascii.read(Path(shared) / 'ryon2017' / name, format='mrt')
        ids = [str(v) for v in t['ID']]
        galaxy = [f'{field}-{i.split("-")[1]}' for i in ids]
        reff_pc = 10 ** _values(t['logReff-gal'])
        pc_per_px = RYON_DISTANCE[field] * 1e6 * PIXEL_SCALE / 206264.806
        parts.append(Table({
            'id': ids, 'galaxy': galaxy,
            'ci': _values(t['CI']),
            'eta': _values(t['Eta']),
            'reff_pc': reff_pc,
            'reff_px': reff_pc / pc_per_px,
            'fvis': np.nan_to_num(_values(t['fvis'])).astype(int)}))
    table = vstack(parts)
    for name in ('ci', 'eta', 'reff_pc', 'reff_px'):
        table[name] = np.round(table[name], 4)
    table.meta['comments'] = [
        'Ryon, J. E., et al. 2017, ApJ 841, 92, machine-readable tables 3 (NGC 628-c)',
        'and 4 (NGC 1313): catalog CI, EFF slope eta (GALFIT on F555W; the profile is',
        '(1 + r^2/a^2)^-eta) and effective radius, for clusters of human class',
        'fvis = 1 or 2.  reff_px = reff_pc at 9.9 Mpc (NGC 628) or 4.39 Mpc (NGC 1313)',
        'on the 0.0396 arcsec/px LEGUS grid.  Made by scripts/extract_simulation_data.py.',
    ]
    table.write(DATA / 'ryon2017_clusters.ecsv', overwrite=True)
    ok = np.isfinite(table['eta'])
    print(f'ryon2017_clusters.ecsv: {len(table)} clusters, {ok.sum()} with eta; '
          f'median eta {np.median(table["eta"][ok]):.2f}, '
          f'median reff {np.nanmedian(table["reff_px"]):.2f} px')


def extract_crowding(legus_dir, n_per_class=750, seed=4242):
    """Write ``legus_crowding.ecsv``: catalog neighbours of labelled candidates."""
    from astropy.table import Table
    from scipy.spatial import cKDTree
    rows = []
    for galaxy, table in labelled_catalogs(legus_dir):
        labels = np.ma.filled(table['human_class'], 0)
        xy = np.column_stack([_values(table['x']), _values(table['y'])])
        v = _values(table['mag_F555W'])
        tree = cKDTree(xy)
        for k in np.flatnonzero((labels >= 1) & (labels <= 4)):
            if not np.isfinite(v[k]):
                continue
            near = [j for j in tree.query_ball_point(xy[k], CROWDING_RADIUS) if j != k]
            sep = np.hypot(*(xy[near] - xy[k]).T) if near else np.empty(0)
            dmag = v[near] - v[k] if near else np.empty(0)
            order = np.argsort(sep)[:MAX_NEIGHBOURS]
            row = np.full(2 * MAX_NEIGHBOURS, np.nan)
            row[:len(order)] = sep[order]
            row[MAX_NEIGHBOURS:MAX_NEIGHBOURS + len(order)] = dmag[order]
            rows.append((galaxy, int(labels[k]), len(near), *row))
    names = (['galaxy', 'class', 'n_neighbours']
             + [f'sep_{i}' for i in range(MAX_NEIGHBOURS)]
             + [f'dmag_{i}' for i in range(MAX_NEIGHBOURS)])
    table = _per_class_subset(Table(rows=rows, names=names), n_per_class, seed)
    for name in names[3:]:
        table[name] = np.round(table[name].astype(np.float32), 2)
    table.meta['comments'] = [
        'Crowding of human-labelled LEGUS candidates, from the catalog positions:',
        f'for each candidate, the other catalog sources within {CROWDING_RADIUS:g} px',
        '(n_neighbours), and for the nearest 8 their separation (px) and F555W',
        'magnitude difference (neighbour - candidate; NaN where the neighbour has no',
        f'F555W magnitude).  Random {n_per_class} per class (seed {seed}) of the',
        'labelled candidates of the LEGUS catalogs (Adamo et al. 2017) except ngc4242',
        'and ngc4449.  Made by scripts/extract_simulation_data.py.',
    ]
    table.write(DATA / 'legus_crowding.ecsv', overwrite=True)
    for k in (1, 2, 3, 4):
        sel = table[table['class'] == k]
        print(f'crowding class {k}: mean {np.mean(sel["n_neighbours"]):.2f} neighbours '
              f'within {CROWDING_RADIUS:g} px, {np.mean(sel["n_neighbours"] > 0):.2f} with any')


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('shared', nargs='?', default=str(REPO.parent / 'shared' / 'data'),
                        help='the shared reference data folder (default ../shared/data)')
    args = parser.parse_args(argv)
    shared = Path(args.shared)
    extract_psfs(shared / 'psfs')
    extract_photometry(shared / 'legus')
    extract_ryon(shared)
    extract_crowding(shared / 'legus')


if __name__ == '__main__':
    main()
