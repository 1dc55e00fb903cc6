# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""
Reproduce the published StarcNet run on the LEGUS mosaics.

The original StarcNet code read, from the folder of a galaxy's drizzled
LEGUS mosaics, the first FITS file (in sorted name order) whose name
contains each band's number (275, 336, 435 or 438, 555 or 606, 814),
took the primary HDU, cut ``data[int(Y) - 16:int(Y) + 16, int(X) -
16:int(X) + 16]`` at the 1-based catalog positions ``(X, Y)``, subtracted
the per-band means and ran the network.  `legus_band_files` chooses the
files in the same way and `published_logits` gives the logits of the
same cutouts (`~starcnet.read_legus` positions are ``X - 1, Y - 1``, and
`~starcnet.cutouts.cutout_origin` of those is exactly the published
slice).  See ``docs/reproduce.rst``.
"""

import os

import numpy as np

__all__ = ['LEGUS_BAND_PATTERNS', 'legus_band_files', 'read_legus_mosaics',
           'published_logits', 'NGC1566_MOSAICS_URL']

#: The tarball of the five drizzled NGC 1566 mosaics (LEGUS HLSP).
NGC1566_MOSAICS_URL = 'https://archive.stsci.edu/hlsps/legus/ngc1566/ngc1566_drc.tar.gz'

#: StarcNet band -> the substrings that identify its file, in the order
#: they are tried.
LEGUS_BAND_PATTERNS = {'F275W': ('275',), 'F336W': ('336',),
                       'F438W': ('435', '438'), 'F555W': ('555', '606'),
                       'F814W': ('814',)}


def legus_band_files(directory):
    """
    The FITS file of each band in a folder of LEGUS mosaics.

    As in the published StarcNet code: for each band, the first file in
    sorted name order whose name contains the band's number
    (`LEGUS_BAND_PATTERNS`).  Only ``.fits`` files (any case, optionally
    ``.gz``) are considered.

    Parameters
    ----------
    directory : str or os.PathLike
        The folder (e.g. the unpacked ``ngc1566_drc.tar.gz``).

    Returns
    -------
    files : dict
        StarcNet band name (F275W, F336W, F438W, F555W, F814W) to path,
        in network order.

    Raises
    ------
    FileNotFoundError
        If a band has no file; the message lists what was found.
    """
    directory = os.fspath(directory)
    names = sorted(name for name in os.listdir(directory)
                   if name.lower().endswith(('.fits', '.fits.gz')))
    files, missing = {}, []
    for band, patterns in LEGUS_BAND_PATTERNS.items():
        match = next((name for name in names if any(p in name for p in patterns)), None)
        if match is None:
            missing.append(f'{band} (a name containing {" or ".join(patterns)})')
        else:
            files[band] = os.path.join(directory, match)
    if missing:
        msg = (f'no FITS file in {directory} for {", ".join(missing)}; found: '
               f'{", ".join(names) or "nothing"}')
        raise FileNotFoundError(msg)
    return files


def read_legus_mosaics(directory):
    """
    The five LEGUS mosaics of a folder as a `~starcnet.MultiBandImage`.

    Parameters
    ----------
    directory : str or os.PathLike
        The folder; files are chosen with `legus_band_files` and the
        primary HDU of each is read (memory-mapped).

    Returns
    -------
    image : `~starcnet.MultiBandImage`
        Bands named as the network's (F438W and F555W even where the
        files hold F435W or F606W, as the published code did).
    """
    from .images import MultiBandImage

    return MultiBandImage.read(legus_band_files(directory), hdu=0)


def published_logits(image, catalog, model='legus-2021', *, batch_size=256):
    """
    Logits of a model for the candidates of a LEGUS catalog, as published.

    Parameters
    ----------
    image : `~starcnet.MultiBandImage`, dict or sequence of 2-D arrays
        The five bands in network order (a dict or image is reordered by
        band name).
    catalog : `~astropy.table.Table`
        `~starcnet.read_legus` output (0-based ``x``, ``y``).
    model : str or os.PathLike, optional
        Registry name or weights file.
    batch_size : int, optional
        Cutouts per network call.

    Returns
    -------
    logits : `~numpy.ndarray`
        float32 ``(N, 4)`` in catalog order; NaN rows for candidates whose
        cutout is not inside the image (dropped by the published code) and
        where the network output is not finite (flagged
        ``NONFINITE_OUTPUT``).
    flags : `~numpy.ndarray`
        `~starcnet.cutouts.CutoutFlag` bits per candidate.
    """
    from .cutouts import CutoutFlag, extract_cutouts, image_cutouts
    from .images import MultiBandImage
    from .models.inference import Predictor, finite_rows

    # raw logits, as published: no temperature
    predictor = Predictor.from_model(model, device='cpu', batch_size=batch_size,
                                     temperature=1.0)
    info = predictor.info
    x = np.asarray(catalog['x'], dtype=float)
    y = np.asarray(catalog['y'], dtype=float)
    if isinstance(image, (list, tuple)):
        # plain arrays: already in e-/s
        cutouts, flags = extract_cutouts(list(image), x, y)
    else:
        if not isinstance(image, MultiBandImage):
            image = MultiBandImage(image)
        band_map = image.match_bands(info.bands)
        # as published, masks are not used
        cutouts, flags, _ = image_cutouts(image, x, y, bands=band_map.values(),
                                          use_masks=False)
    logits = np.full((len(x), 4), np.nan, dtype=np.float32)
    ok = np.flatnonzero((flags & (CutoutFlag.EDGE | CutoutFlag.UNCLASSIFIED)) == 0)
    # as published: every band used as it is, also where it has no data
    # (no missing-band handling)
    for start in range(0, ok.size, batch_size):
        index = ok[start:start + batch_size]
        logits[index] = predictor.logits(cutouts[index])
    # the inference path gives NaN rows where the network output is not
    # finite: say so in the flags, as the classifier does
    flags[ok[~finite_rows(logits[ok])]] |= CutoutFlag.NONFINITE_OUTPUT | CutoutFlag.UNCLASSIFIED
    return logits, flags
