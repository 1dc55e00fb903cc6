# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""
Training data without torch: labelled cutouts from an image and a
table, validation splits, class weights and the checks of cutouts and
labels.
"""

import logging
from typing import NamedTuple

import numpy as np

from ..cutouts import CutoutFlag, image_cutouts, table_positions

__all__ = ['LabelledCutouts', 'cutouts_from_catalog', 'class_weights']

log = logging.getLogger('starcnet')


def class_weights(labels, n_classes=4):
    """
    Loss weights inverse to class frequency (classes 1..n_classes).

    Parameters
    ----------
    labels : array-like of int
        Classes 1..n_classes.
    n_classes : int, optional
        Number of classes.

    Returns
    -------
    weights : `~numpy.ndarray`
        float32 array of length ``n_classes``, mean 1 over the present
        classes; 0 for classes absent from ``labels``.

    Examples
    --------
    >>> from starcnet.training import class_weights
    >>> class_weights([1, 1, 2, 4]).tolist()
    [0.6000000238418579, 1.2000000476837158, 0.0, 1.2000000476837158]
    """
    counts = np.bincount(np.asarray(labels, dtype=int) - 1, minlength=n_classes)
    weights = np.zeros(n_classes, dtype=np.float64)
    present = counts > 0
    weights[present] = 1.0 / counts[present]
    weights *= present.sum() / weights.sum()
    return weights.astype(np.float32)


def _check_data(cutouts, labels, what):
    """float32 cutouts and int64 labels, checked."""
    labels = np.asarray(labels)
    cutouts = np.asarray(cutouts, dtype=np.float32)
    if cutouts.ndim != 4 or labels.ndim != 1 or cutouts.shape[0] != labels.shape[0]:
        msg = (f'{what}: cutouts must be (N, bands, 32, 32) with one label each, got '
               f'{cutouts.shape} and {labels.shape[0] if labels.ndim else 0} labels')
        raise ValueError(msg)
    if (labels.size == 0 or not np.issubdtype(labels.dtype, np.number)
            or np.any(labels != np.round(labels)) or labels.min() < 1 or labels.max() > 4):
        msg = f'{what}: labels must be LEGUS classes 1-4'
        raise ValueError(msg)
    return cutouts, labels.astype(np.int64)


def _validation_split(labels, val_fraction, groups, rng):
    """
    Indices (sorted) of the validation set.

    Stratified by class, or, with ``groups``, whole groups (galaxies,
    scenes) until about ``val_fraction`` of the cutouts; ``rng`` is a
    `numpy.random.Generator`.
    """
    n = labels.size
    if val_fraction == 0:
        return np.array([], dtype=np.int64)
    if groups is not None:
        groups = np.asarray(groups)
        if groups.shape != (n,):
            msg = f'groups must have one entry per cutout ({n}), got shape {groups.shape}'
            raise ValueError(msg)
        names, inverse = np.unique(groups, return_inverse=True)
        if names.size < 2:
            msg = ('a split by groups needs at least two groups (e.g. two '
                   f'galaxies or scenes), got {names.size}')
            raise ValueError(msg)
        sizes = np.bincount(inverse)
        target = val_fraction * n
        chosen, total = [], 0
        for g in rng.permutation(names.size):
            if total >= target or len(chosen) == names.size - 1:
                break
            # take a group unless it overshoots more than it helps
            if total and abs(total + sizes[g] - target) > abs(total - target):
                continue
            chosen.append(g)
            total += sizes[g]
        return np.flatnonzero(np.isin(inverse, chosen))
    val_idx = []
    for k in np.unique(labels):
        idx = np.flatnonzero(labels == k)
        rng.shuffle(idx)
        val_idx.append(idx[:int(round(val_fraction * idx.size))])
    return np.sort(np.concatenate(val_idx))


class LabelledCutouts(NamedTuple):
    """
    Training cutouts made from an image and a labelled table.

    Attributes
    ----------
    cutouts : `~numpy.ndarray`
        float32 ``(N, n_bands, 32, 32)`` in e-/s, in the model's band order.
    labels : `~numpy.ndarray`
        int64 LEGUS classes 1-4.
    index : `~numpy.ndarray`
        Row of the input table of each cutout.
    dropped : dict
        Number of rows left out: ``'unlabelled'`` (masked or 0 class),
        ``'invalid_class'`` (any value other than 1-4) and
        ``'unclassifiable'`` (cutout flagged
        `~starcnet.cutouts.CutoutFlag.UNCLASSIFIED`: outside the image,
        or bad pixels at its centre).
    """

    cutouts: np.ndarray
    labels: np.ndarray
    index: np.ndarray
    dropped: dict


def cutouts_from_catalog(image, table, *, class_column='human_class', bands=None,
                         max_bad_fraction=0.5):
    """
    Labelled training cutouts from an image and a labelled table.

    Parameters
    ----------
    image : `~starcnet.MultiBandImage` or dict
        The bands (anything `~starcnet.MultiBandImage` takes), on one
        pixel grid.
    table : `~astropy.table.Table`
        One row per candidate with 0-based pixel positions (``x_centroid``
        / ``y_centroid``, ``xcentroid`` / ``ycentroid`` or ``x`` / ``y``,
        e.g. from `~starcnet.read_legus`; checked by
        `~starcnet.cutouts.table_positions`) and a class column.
    class_column : str, optional
        Column with the LEGUS classes 1-4; masked values and 0 mean "not
        labelled".
    bands : sequence of str, optional
        Band order of the cutouts: that of the model to fine-tune.
        Default: F275W, F336W, F438W, F555W, F814W.  Equivalent filters
        may stand in (see `~starcnet.MultiBandImage.match_bands`).
    max_bad_fraction : float, optional
        As in `~starcnet.cutouts.extract_cutouts`.

    Returns
    -------
    labelled : `LabelledCutouts`
        ``(cutouts, labels, index, dropped)``: rows without a usable label
        or cutout are left out and counted in ``dropped`` (and logged).

    Raises
    ------
    ValueError
        If the table has no positions or no ``class_column``, a position
        is masked, not finite or not in pixels, or no row is left.
    """
    from ..images import STARCNET_BANDS, MultiBandImage

    if not isinstance(image, MultiBandImage):
        image = MultiBandImage(image)
    if class_column not in table.colnames:
        msg = (f'the table has no class column {class_column!r}; its columns are '
               f'{", ".join(table.colnames)} (choose one with class_column=)')
        raise ValueError(msg)
    x, y = table_positions(table)

    column = table[class_column]
    values = np.ma.asarray(getattr(column, 'value', column))
    masked = np.ma.getmaskarray(values)
    raw = np.asarray(values.filled(0), dtype=float)
    unlabelled = masked | (raw == 0)
    valid = np.isin(raw, (1, 2, 3, 4))
    invalid = ~unlabelled & ~valid

    band_map = image.match_bands(STARCNET_BANDS if bands is None else bands)
    keep = np.flatnonzero(valid & ~unlabelled)
    cutouts, flags, _ = image_cutouts(image, x[keep], y[keep], bands=band_map.values(),
                                      max_bad_fraction=max_bad_fraction)
    good = (flags & CutoutFlag.UNCLASSIFIED) == 0
    cutouts = cutouts[good]
    index = keep[good]
    dropped = {'unlabelled': int(unlabelled.sum()), 'invalid_class': int(invalid.sum()),
               'unclassifiable': int((~good).sum())}
    log.info('%d labelled cutouts from %d rows; dropped: %s', index.size,
             len(table), ', '.join(f'{k} {v}' for k, v in dropped.items()))
    if index.size == 0:
        msg = (f'no usable labelled rows in the table (dropped: {dropped}); '
               f'check class_column={class_column!r} and the positions')
        raise ValueError(msg)
    return LabelledCutouts(cutouts.astype(np.float32), raw[index].astype(np.int64),
                           index, dropped)
