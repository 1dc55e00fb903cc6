# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""
The offline demonstration behind ``starcnet demo``: simulate a scene,
find and classify its sources, and compare the classes with the
simulated truth.
"""

import logging
import os
from dataclasses import dataclass, field

import numpy as np

from ..legus import PIXEL_SCALE

__all__ = ['DemoResult', 'demo_paths', 'demo_wcs', 'run_demo', 'truth_agreement']

log = logging.getLogger('starcnet')

#: Detection band of the demo.
DETECT_BAND = 'F555W'


def demo_wcs(size):
    """
    A TAN WCS at the LEGUS pixel scale (0.0396 arcsec), centred near
    NGC 1566, so that the demo shows sky coordinates too.

    Parameters
    ----------
    size : int
        Side of the (square) image in pixels; the reference pixel is its
        centre.

    Returns
    -------
    wcs : `~astropy.wcs.WCS`
    """
    from astropy.wcs import WCS

    wcs = WCS(naxis=2)
    wcs.wcs.ctype = ['RA---TAN', 'DEC--TAN']
    wcs.wcs.crval = [65.00175, -54.93781]
    wcs.wcs.crpix = [(size + 1) / 2, (size + 1) / 2]
    wcs.wcs.cdelt = [-PIXEL_SCALE / 3600, PIXEL_SCALE / 3600]
    return wcs


def demo_paths(output_dir, bands=None, *, catalog_format='ecsv'):
    """
    The files `run_demo` writes in ``output_dir``.

    Parameters
    ----------
    output_dir : path-like
    bands : sequence of str, optional
        The simulated bands (default `starcnet.simulation.BANDS`).
    catalog_format : {'ecsv', 'votable'}, optional
        Format of the catalog (``.ecsv`` or ``.vot``).

    Returns
    -------
    paths : dict
        ``'catalog'``, ``'regions'`` and one ``'<band>'`` entry per band
        image (FITS), each a path in ``output_dir``.
    """
    from . import BANDS

    suffix = {'ecsv': '.ecsv', 'votable': '.vot'}[catalog_format]
    outdir = os.fspath(output_dir)
    paths = {'catalog': os.path.join(outdir, f'demo_starcnet{suffix}'),
             'regions': os.path.join(outdir, 'demo_starcnet.reg')}
    for band in (BANDS if bands is None else bands):
        paths[band] = os.path.join(outdir, f'demo_{band.lower()}.fits')
    return paths


def truth_agreement(catalog, truth, *, max_separation=2.0):
    """
    Agreement of classified classes with a simulated truth table.

    Each simulated candidate is paired with at most one detection, the
    nearest within ``max_separation`` pixels
    (`starcnet.metrics.match_catalogs` with ``by='pixel'``).

    Parameters
    ----------
    catalog : `~astropy.table.Table`
        The classified detections.
    truth : `~astropy.table.Table`
        ``x``, ``y`` and ``true_class`` per simulated candidate (from
        `~starcnet.simulation.make_scene`).
    max_separation : float, optional
        Largest distance of a pair, in pixels.

    Returns
    -------
    agreement : dict
        ``n_truth`` (simulated candidates), ``n_compared`` (those
        detected and classified), ``accuracy`` (4 classes) and
        ``binary_accuracy`` (clusters, classes 1+2, against 3+4); the
        last two are `None` when nothing could be compared.
    """
    from ..metrics import match_catalogs

    out = {'n_truth': len(truth), 'n_compared': 0, 'accuracy': None,
           'binary_accuracy': None}
    if len(catalog) == 0 or len(truth) == 0:
        return out
    matched = match_catalogs(catalog, truth, by='pixel', max_separation=max_separation)
    pred = np.ma.asarray(matched['cluster_class'])
    ok = ~np.ma.getmaskarray(pred)
    pred = np.ma.getdata(pred)[ok]
    ref = np.asarray(matched['true_class'])[ok]
    out['n_compared'] = int(ref.size)
    if ref.size:
        out['accuracy'] = float(np.mean(pred == ref))
        out['binary_accuracy'] = float(np.mean((pred <= 2) == (ref <= 2)))
    return out


@dataclass
class DemoResult:
    """
    What `run_demo` made.

    Attributes
    ----------
    catalog : `~astropy.table.QTable`
        The classified detections.
    truth : `~astropy.table.QTable`
        The simulated candidates (``x``, ``y``, ``true_class``, ...).
    paths : dict
        The files written (see `demo_paths`).
    agreement : dict
        From `truth_agreement`.
    """

    catalog: object
    truth: object
    paths: dict = field(default_factory=dict)
    agreement: dict = field(default_factory=dict)

    def summary(self):
        """The agreement with the simulated truth, in one line."""
        a = self.agreement
        if not a.get('n_truth') or not len(self.catalog):
            return 'no detections to compare with the simulated truth'
        if not a['n_compared']:
            return 'no simulated candidate was detected and classified'
        return (f"simulated candidates detected and classified: {a['n_compared']} "
                f"of {a['n_truth']}; agreement with the simulated truth: "
                f"{100 * a['accuracy']:.1f}% (4 classes), "
                f"{100 * a['binary_accuracy']:.1f}% (cluster 1+2 vs 3+4)")


def run_demo(output_dir, *, model=None, size=512, seed=1, nsigma=5.0, device=None,
             batch_size=None, catalog_format='ecsv', overwrite=False,
             progress_bar=False):
    """
    Run the whole pipeline on a simulated scene, offline.

    Simulates a LEGUS-like 5-band scene (`~starcnet.simulation.make_scene`),
    writes one FITS file per band (e-/s, with a TAN WCS: `demo_wcs`),
    finds sources in F555W (`~starcnet.find_candidates`), classifies them
    and writes the catalog and DS9 regions, then compares the classes
    with the simulated truth (`truth_agreement`).

    Parameters
    ----------
    output_dir : path-like
        Folder for the outputs (made if missing); see `demo_paths`.
    model : str or path-like, optional
        Model name or weights file (default: the configured default model).
    size : int, optional
        Side of the scene in pixels.
    seed : int, optional
        Random seed of the scene.
    nsigma : float, optional
        Detection threshold in noise sigmas.
    device, batch_size
        As for `~starcnet.StarClusterClassifier`.
    catalog_format : {'ecsv', 'votable'}, optional
        Format of the catalog file.
    overwrite : bool, optional
        Replace existing outputs; without it an existing output is an
        error and nothing is written.
    progress_bar : bool, optional
        Show a progress bar over the batches (needs tqdm).

    Returns
    -------
    result : `DemoResult`

    Raises
    ------
    FileExistsError
        If an output exists and ``overwrite`` is false.
    """
    from astropy.io import fits

    from ..classifier import StarClusterClassifier
    from ..detection import find_candidates
    from ..images import MultiBandImage
    from ..io import write_catalog, write_regions
    from . import make_scene

    images, truth = make_scene(shape=(size, size), seed=seed)
    paths = demo_paths(output_dir, list(images), catalog_format=catalog_format)
    existing = [p for p in paths.values() if os.path.exists(p)]
    if existing and not overwrite:
        msg = (f'{existing[0]} already exists; use overwrite=True to replace '
               'the demo outputs')
        raise FileExistsError(msg)
    os.makedirs(output_dir, exist_ok=True)
    wcs = demo_wcs(size)
    for band, data in images.items():
        header = wcs.to_header()
        header.update({'FILTER': band, 'BUNIT': 'ELECTRONS/S'})
        fits.PrimaryHDU(data, header=header).writeto(paths[band], overwrite=overwrite)
    log.info('wrote a simulated %dx%d 5-band scene to %s', size, size, output_dir)
    image = MultiBandImage.read({band: paths[band] for band in images})
    sources = find_candidates(image, DETECT_BAND, fwhm=2.5, nsigma=nsigma)
    log.info('DAOStarFinder found %d sources in %s', len(sources), DETECT_BAND)
    clf = StarClusterClassifier(model, device=device, batch_size=batch_size)
    catalog = clf(image, sources, progress_bar=progress_bar)
    write_catalog(catalog, paths['catalog'], overwrite=overwrite)
    log.info('wrote %s (%d sources)', paths['catalog'], len(catalog))
    write_regions(clf.to_regions(catalog), paths['regions'], overwrite=overwrite)
    log.info('wrote %s', paths['regions'])
    return DemoResult(catalog=catalog, truth=truth, paths=paths,
                      agreement=truth_agreement(catalog, truth))
