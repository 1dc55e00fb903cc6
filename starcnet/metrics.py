# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""
Agreement between StarcNet classes and human (LEGUS) labels: accuracy,
the paper's binary cluster / non-cluster accuracy, confusion matrices,
per-class recall and precision, calibration of the probabilities
(reliability curve, expected calibration error), how well an
uncertainty ranks the errors (error-retention curve), matching of a
classified catalog to a labelled one, and `auroc`, how well a score
separates two sets (e.g. an out-of-distribution score).

Entries that are masked (not classified by StarcNet, not inspected by a
human) or 0 (the LEGUS code for "not inspected") are left out of every
metric; how many were left out is reported.
"""

import numpy as np
from astropy import units as u
from astropy.coordinates import SkyCoord
from astropy.table import QTable, Table

from .cutouts import table_positions
from .legus import CLASS_NAMES, CLUSTER_CLASSES, LEGUS_CLASSES

__all__ = ['LEGUS_CLASSES', 'CLASS_NAMES', 'CLUSTER_CLASSES', 'valid_pairs', 'confusion_matrix',
           'confusion_table', 'accuracy', 'binary_accuracy',
           'classification_report', 'match_catalogs', 'reliability_curve',
           'expected_calibration_error', 'error_retention', 'errors_in_top',
           'calibrated_error_retention', 'auroc']


def _labels(values, name):
    """
    Integer labels and a mask of the entries to leave out.
    """
    if isinstance(values, u.Quantity):
        values = values.value
    mask = np.ma.getmaskarray(values)
    data = np.ma.getdata(values)
    data = np.asarray(data)
    if data.ndim != 1:
        data = data.reshape(-1)
        mask = mask.reshape(-1)
    if data.dtype.kind == 'f':
        mask = mask | ~np.isfinite(data)
        filled = np.where(mask, 0, data)
        if np.any(filled != np.round(filled)):
            msg = f'{name} must hold integer class labels, got non-integer values'
            raise ValueError(msg)
        data = filled
    elif data.dtype.kind not in 'iu':
        msg = f'{name} must hold integer class labels, got dtype {data.dtype}'
        raise ValueError(msg)
    data = data.astype(np.int64)
    mask = mask | (data == 0)
    return data, mask


def valid_pairs(true, pred, classes=LEGUS_CLASSES):
    """
    The (human, predicted) pairs that count, and how many were left out.

    Parameters
    ----------
    true, pred : array-like
        Human and predicted classes, same length; masked arrays,
        `~astropy.table.MaskedColumn` and float arrays with NaN work.
    classes : sequence of int, optional
        The valid classes.

    Returns
    -------
    true, pred : `~numpy.ndarray`
        The pairs where neither is masked, NaN or 0 (LEGUS "not
        inspected").
    n_excluded : int
        Number of pairs left out.

    Raises
    ------
    ValueError
        If the lengths differ, or a label is neither left out nor one of
        ``classes``.
    """
    t, tmask = _labels(true, 'true')
    p, pmask = _labels(pred, 'pred')
    if t.shape != p.shape:
        msg = (f'true and pred must have the same length, got {t.size} and '
               f'{p.size}; match the catalogs first (match_catalogs)')
        raise ValueError(msg)
    keep = ~(tmask | pmask)
    classes = np.asarray(classes)
    for name, values in (('true', t[keep]), ('pred', p[keep])):
        bad = ~np.isin(values, classes)
        if bad.any():
            msg = (f'{name} has labels {sorted(set(values[bad].tolist()))} that '
                   f'are not classes {classes.tolist()}; mask them, or set '
                   'them to 0 (not inspected / not classified)')
            raise ValueError(msg)
    return t[keep], p[keep], int(keep.size - keep.sum())


def confusion_matrix(true, pred, classes=LEGUS_CLASSES):
    """
    Confusion matrix of human against predicted classes.

    Parameters
    ----------
    true, pred : array-like
        Human and predicted classes (see `valid_pairs` for what is left
        out).
    classes : sequence of int, optional
        Class order of the rows and columns.

    Returns
    -------
    matrix : `~numpy.ndarray`
        int64, shape ``(len(classes), len(classes))``: ``matrix[i, j]``
        counts objects of human class ``classes[i]`` predicted as
        ``classes[j]`` (rows: human class, columns: prediction, as in
        Pérez et al. 2021).

    See Also
    --------
    confusion_table : the same as a table.

    Examples
    --------
    >>> from starcnet.metrics import confusion_matrix
    >>> confusion_matrix([1, 1, 2, 4, 0], [1, 2, 2, 4, 3])
    array([[1, 1, 0, 0],
           [0, 1, 0, 0],
           [0, 0, 0, 0],
           [0, 0, 0, 1]])
    """
    t, p, _ = valid_pairs(true, pred, classes)
    classes = np.asarray(classes)
    order = np.argsort(classes)
    n = classes.size

    def position(values):
        return order[np.searchsorted(classes[order], values)]

    flat = position(t) * n + position(p)
    return np.bincount(flat, minlength=n * n).reshape(n, n).astype(np.int64)


def confusion_table(true, pred, classes=LEGUS_CLASSES):
    """
    Confusion matrix as a table, one row per human class.

    Parameters
    ----------
    true, pred : array-like
        Human and predicted classes (see `valid_pairs`).
    classes : sequence of int, optional
        The classes.

    Returns
    -------
    table : `~astropy.table.Table`
        Columns ``human_class``, ``pred_<c>`` (one per class: counts of
        objects of that row's human class predicted as ``c``) and
        ``total``; ``meta`` has ``n_used`` and ``n_excluded``.
    """
    _, _, n_excluded = valid_pairs(true, pred, classes)
    matrix = confusion_matrix(true, pred, classes)
    table = Table()
    table['human_class'] = np.asarray(classes)
    for k, c in enumerate(classes):
        table[f'pred_{c}'] = matrix[:, k]
    table['total'] = matrix.sum(axis=1)
    table.meta['n_used'] = int(matrix.sum())
    table.meta['n_excluded'] = n_excluded
    return table


def accuracy(true, pred, classes=LEGUS_CLASSES):
    """
    Fraction of objects whose predicted class is the human class.

    Parameters
    ----------
    true, pred : array-like
        Human and predicted classes (see `valid_pairs`).
    classes : sequence of int, optional
        The classes.

    Returns
    -------
    accuracy : float
        NaN if no pair is left.

    Examples
    --------
    >>> from starcnet.metrics import accuracy
    >>> accuracy([1, 2, 3, 4], [1, 2, 4, 4])
    0.75
    """
    t, p, _ = valid_pairs(true, pred, classes)
    return float(np.mean(t == p)) if t.size else float('nan')


def binary_accuracy(true, pred, cluster_classes=CLUSTER_CLASSES, classes=LEGUS_CLASSES):
    """
    Accuracy of the cluster / non-cluster split.

    Parameters
    ----------
    true, pred : array-like
        Human and predicted classes (see `valid_pairs`).
    cluster_classes : sequence of int, optional
        Classes counted as clusters: by default 1 and 2 against 3 and 4,
        the split of Pérez et al. (2021).
    classes : sequence of int, optional
        The classes.

    Returns
    -------
    accuracy : float
        NaN if no pair is left.

    Examples
    --------
    >>> from starcnet.metrics import binary_accuracy
    >>> binary_accuracy([1, 2, 3, 4], [2, 1, 4, 1])
    0.75
    """
    t, p, _ = valid_pairs(true, pred, classes)
    if not t.size:
        return float('nan')
    return float(np.mean(np.isin(t, cluster_classes) == np.isin(p, cluster_classes)))


def classification_report(true, pred, classes=LEGUS_CLASSES,
                          cluster_classes=CLUSTER_CLASSES):
    """
    Per-class recall, precision, F1 and support, with overall accuracies.

    Parameters
    ----------
    true, pred : array-like
        Human and predicted classes (see `valid_pairs`).
    classes : sequence of int, optional
        The classes.
    cluster_classes : sequence of int, optional
        Classes counted as clusters for ``meta['binary_accuracy']``.

    Returns
    -------
    report : `~astropy.table.Table`
        One row per class: ``class``, ``name`` (for LEGUS classes),
        ``support`` (objects of that human class), ``n_predicted``,
        ``recall``, ``precision``, ``f1`` (NaN where undefined).
        ``meta``: ``accuracy``, ``binary_accuracy``, ``n_used``,
        ``n_excluded`` and ``confusion_matrix`` (nested list, rows:
        human class, columns: prediction).

    Examples
    --------
    >>> from starcnet.metrics import classification_report
    >>> report = classification_report([1, 1, 2, 3, 4, 4, 0], [1, 2, 2, 3, 4, 3, 4])
    >>> report['class', 'support', 'recall', 'precision'].pprint()
    class support recall precision
    ----- ------- ------ ---------
        1       2  0.500     1.000
        2       1  1.000     0.500
        3       1  1.000     0.500
        4       2  0.500     1.000
    >>> report.meta['n_excluded'], round(report.meta['accuracy'], 3)
    (1, 0.667)
    """
    t, p, n_excluded = valid_pairs(true, pred, classes)
    matrix = confusion_matrix(t, p, classes)
    diag = np.diag(matrix).astype(float)
    support = matrix.sum(axis=1)
    predicted = matrix.sum(axis=0)
    recall = np.divide(diag, support, out=np.full(diag.shape, np.nan), where=support > 0)
    precision = np.divide(diag, predicted, out=np.full(diag.shape, np.nan),
                          where=predicted > 0)
    denom = recall + precision
    ok = np.isfinite(denom) & (denom > 0)
    f1 = np.divide(2 * recall * precision, denom, out=np.full(diag.shape, np.nan),
                   where=ok)
    f1[np.isfinite(denom) & (denom == 0)] = 0.0
    report = Table()
    report['class'] = np.asarray(classes)
    report['name'] = [CLASS_NAMES.get(int(c), '') for c in classes]
    report['support'] = support
    report['n_predicted'] = predicted
    report['recall'] = recall
    report['precision'] = precision
    report['f1'] = f1
    for name in ('recall', 'precision', 'f1'):
        report[name].info.format = '.3f'
    report.meta['accuracy'] = accuracy(t, p, classes)
    report.meta['binary_accuracy'] = binary_accuracy(t, p, cluster_classes, classes)
    report.meta['cluster_classes'] = [int(c) for c in cluster_classes]
    report.meta['n_used'] = int(t.size)
    report.meta['n_excluded'] = n_excluded
    report.meta['confusion_matrix'] = matrix.tolist()
    return report


def _confidences(proba, true, classes):
    proba = np.ma.filled(np.ma.asarray(proba, dtype=float), np.nan)
    if proba.ndim != 2 or proba.shape[1] != len(classes):
        msg = (f'probabilities must have shape (N, {len(classes)}), one column per '
               f'class, got {proba.shape}')
        raise ValueError(msg)
    true, masked = _labels(true, 'true')
    if true.shape[0] != proba.shape[0]:
        msg = (f'{proba.shape[0]} rows of probabilities but {true.shape[0]} true '
               'classes')
        raise ValueError(msg)
    classes = np.asarray(classes)
    ok = ~masked & np.isin(true, classes) & np.all(np.isfinite(proba), axis=1)
    proba, true = proba[ok], true[ok]
    pred = classes[np.argmax(proba, axis=1)]
    return proba.max(axis=1), (pred == true).astype(float), int(np.count_nonzero(~ok))


def reliability_curve(proba, true, *, n_bins=10, classes=LEGUS_CLASSES):
    """
    Confidence against accuracy, in bins of the top-class probability.

    Parameters
    ----------
    proba : array-like
        ``(N, n_classes)`` class probabilities (e.g. the ``prob_class1``
        ... ``prob_class4`` columns stacked); rows with a non-finite or
        masked value are left out.
    true : array-like
        Human classes; entries not in ``classes`` (0, masked) are left out.
    n_bins : int, optional
        Equal-width bins of the top-class probability over [0, 1], closed
        on the right (0.6 falls in (0.4, 0.6] with 5 bins).
    classes : sequence of int, optional
        The class of each column of ``proba``.

    Returns
    -------
    curve : `~astropy.table.Table`
        One row per bin: ``lower``, ``upper`` (bin edges), ``count``,
        ``confidence`` (mean top-class probability) and ``accuracy``
        (fraction whose top class is the true class); NaN for empty bins.
        ``meta['ece']`` is the expected calibration error,
        ``meta['n_used']`` and ``meta['n_excluded']`` the objects used and
        left out.

    Examples
    --------
    >>> from starcnet.metrics import reliability_curve
    >>> curve = reliability_curve([[0.9, 0.1, 0, 0], [0.6, 0.4, 0, 0]], [1, 2],
    ...                           n_bins=5)
    >>> curve['count'].tolist(), round(curve.meta['ece'], 2)
    ([0, 0, 1, 0, 1], 0.35)
    """
    if int(n_bins) < 1:
        msg = f'n_bins must be a positive integer, got {n_bins!r}'
        raise ValueError(msg)
    n_bins = int(n_bins)
    conf, correct, n_excluded = _confidences(proba, true, classes)
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    index = np.clip(np.digitize(conf, edges[1:-1], right=True), 0, n_bins - 1)
    count = np.bincount(index, minlength=n_bins)
    with np.errstate(invalid='ignore', divide='ignore'):
        mean_conf = np.bincount(index, conf, n_bins) / count
        mean_acc = np.bincount(index, correct, n_bins) / count
    curve = Table({'lower': edges[:-1], 'upper': edges[1:], 'count': count,
                   'confidence': mean_conf, 'accuracy': mean_acc})
    used = count > 0
    n = int(count.sum())
    curve.meta['ece'] = (float(np.sum(count[used] * np.abs(mean_acc[used] - mean_conf[used]))
                               / n) if n else float('nan'))
    curve.meta['n_used'] = n
    curve.meta['n_excluded'] = n_excluded
    return curve


def expected_calibration_error(proba, true, *, n_bins=10, classes=LEGUS_CLASSES):
    """
    Expected calibration error of class probabilities.

    The count-weighted mean, over `reliability_curve` bins of the
    top-class probability, of ``|accuracy - confidence|`` (Guo et al.
    2017).  0 for perfectly calibrated probabilities; a model that is
    right 60% of the time while claiming 90% has 0.3.

    Parameters
    ----------
    proba, true, n_bins, classes
        See `reliability_curve`.

    Returns
    -------
    ece : float
        NaN if no object is left.

    Examples
    --------
    >>> from starcnet.metrics import expected_calibration_error
    >>> expected_calibration_error([[0.7, 0.1, 0.1, 0.1]] * 10,
    ...                            [1] * 7 + [2] * 3)  # doctest: +FLOAT_CMP
    0.0
    """
    return reliability_curve(proba, true, n_bins=n_bins, classes=classes).meta['ece']


def _float_data(values, name, kind='numbers'):
    """
    The data of a masked array as float64; a `ValueError` saying what
    ``name`` must be (``kind``) if it is not booleans or numbers.
    """
    data = np.asarray(np.ma.getdata(values))
    if data.dtype.kind not in 'biuf':
        msg = f'{name} must be {kind}, got dtype {data.dtype}'
        raise ValueError(msg)
    return data.astype(np.float64)


def _errors_and_scores(errors, uncertainty):
    """
    Boolean errors and float uncertainties of the sources that count,
    and how many were left out (masked or non-finite).
    """
    err = np.ma.asarray(errors)
    unc = np.ma.asarray(uncertainty)
    if isinstance(uncertainty, u.Quantity):
        unc = np.ma.asarray(uncertainty.value)
    if err.ndim != 1 or unc.ndim != 1 or err.shape != unc.shape:
        msg = ('errors and uncertainty must be 1-D and of one length (one value '
               f'per source), got shapes {err.shape} and {unc.shape}')
        raise ValueError(msg)
    err_float = _float_data(err, 'errors', 'booleans (True: misclassified)')
    unc_data = _float_data(unc, 'uncertainty')
    keep = ~(np.ma.getmaskarray(err) | np.ma.getmaskarray(unc)
             | ~np.isfinite(err_float) | ~np.isfinite(unc_data))
    bad = ~np.isin(err_float[keep], (0.0, 1.0))
    if bad.any():
        msg = ('errors must be booleans or 0/1 (1: misclassified), got values '
               f'{sorted(set(err_float[keep][bad].tolist()))[:5]}')
        raise ValueError(msg)
    return (err_float[keep] == 1.0, unc_data[keep], int(keep.size - keep.sum()))


def error_retention(errors, uncertainty):
    """
    The error-retention curve: the fraction of all errors found among
    the most uncertain sources, against the fraction of sources looked at.

    Sources are taken in order of decreasing ``uncertainty``; a group of
    sources with equal uncertainty is taken as a whole, in an order that
    is unknown, so the curve runs straight across it (the expected number
    of errors found when ties are broken at random).  A measure that
    ranks errors first rises above the diagonal of a random order; the
    best possible ranking (all errors first) is the ``oracle`` column.

    Parameters
    ----------
    errors : array-like of bool
        One per source: whether its class is wrong (e.g. ``pred != true``,
        or for the cluster / non-cluster split ``(pred <= 2) != (true <= 2)``).
    uncertainty : array-like of float
        One per source; higher means less sure (e.g. ``1 - max(proba)``,
        the ``entropy`` column, ``1 - class_quality``, ``review_priority``).
        Sources where either is masked or not finite are left out.

    Returns
    -------
    curve : `~astropy.table.Table`
        ``N + 1`` rows for ``N`` sources used: ``fraction`` (``k / N``,
        sources looked at), ``errors_found`` (fraction of all errors
        among the ``k`` most uncertain), ``random`` (``k / N``) and
        ``oracle`` (``min(k, E) / E`` for ``E`` errors).  ``meta``:
        ``n_used``, ``n_excluded``, ``n_errors`` and ``auc``, the mean of
        ``errors_found`` over the rows (0.5 for a random order; NaN
        without errors, when the curve is NaN too).

    Examples
    --------
    >>> from starcnet.metrics import error_retention
    >>> curve = error_retention([True, False, True, False], [0.9, 0.1, 0.5, 0.2])
    >>> curve['errors_found'].tolist()
    [0.0, 0.5, 1.0, 1.0, 1.0]
    """
    err, unc, n_excluded = _errors_and_scores(errors, uncertainty)
    n = err.size
    n_errors = int(np.count_nonzero(err))
    order = np.argsort(-unc, kind='stable')
    unc_sorted, err_sorted = unc[order], err[order]
    found = np.zeros(n + 1)
    found[1:] = np.cumsum(err_sorted)
    if n:
        # positions where a group of equal uncertainty ends; within a group
        # the count of errors found grows linearly (ties broken at random)
        ends = np.flatnonzero(np.r_[unc_sorted[1:] != unc_sorted[:-1], True]) + 1
        starts = np.r_[0, ends[:-1]]
        group = np.repeat(np.arange(ends.size), ends - starts)
        k = np.arange(1, n + 1)
        s, e = starts[group], ends[group]
        found[1:] = found[s] + (found[e] - found[s]) * (k - s) / (e - s)
    fraction = np.arange(n + 1) / n if n else np.zeros(1)
    with np.errstate(invalid='ignore', divide='ignore'):
        found_fraction = found / n_errors if n_errors else np.full(n + 1, np.nan)
        oracle = (np.minimum(np.arange(n + 1), n_errors) / n_errors if n_errors
                  else np.full(n + 1, np.nan))
    curve = Table({'fraction': fraction, 'errors_found': found_fraction,
                   'random': fraction.copy(), 'oracle': oracle})
    curve.meta['n_used'] = int(n)
    curve.meta['n_excluded'] = n_excluded
    curve.meta['n_errors'] = n_errors
    curve.meta['auc'] = (float(np.mean(found_fraction)) if n_errors and n
                         else float('nan'))
    return curve


def errors_in_top(errors, uncertainty, fraction=0.2):
    """
    The fraction of all errors among the ``fraction`` most uncertain
    sources: the `error_retention` curve read at ``fraction`` (linear
    between its points, the expected value when a source is cut in two).

    Parameters
    ----------
    errors, uncertainty : array-like
        As for `error_retention`.
    fraction : float, optional
        Of the sources used, in [0, 1].

    Returns
    -------
    found : float
        In [0, 1]; NaN when there is no error.

    Examples
    --------
    >>> from starcnet.metrics import errors_in_top
    >>> errors_in_top([True, False, True, False], [0.9, 0.1, 0.5, 0.2], 0.25)
    0.5
    """
    if (isinstance(fraction, bool) or not isinstance(fraction, (int, float, np.number))
            or not 0 <= fraction <= 1):
        msg = f'fraction must be a number in [0, 1], got {fraction!r}'
        raise ValueError(msg)
    curve = error_retention(errors, uncertainty)
    if not curve.meta['n_used']:
        return float('nan')
    return float(np.interp(fraction, curve['fraction'], curve['errors_found']))


def calibrated_error_retention(error_probability):
    r"""
    The error-retention curve that the probabilities themselves promise:
    what `error_retention` would give, in expectation, if each source
    were wrong with exactly the probability the model gives it.

    Sources are taken in order of decreasing ``error_probability``
    :math:`q_i`; after the :math:`k` most doubtful, the expected fraction
    of all errors found is

    .. math::

        \frac{\sum_{i \le k} q_{(i)}}{\sum_{i \le N} q_i}.

    If the probabilities are calibrated source by source, no ranking can
    do better in expectation (the :math:`k` largest :math:`q` hold the
    most expected errors of any :math:`k` sources), so the curve is the
    ceiling of every uncertainty measure derived from them.  It depends
    on the accuracy: with 4 classes :math:`q = 1 - \max p \le 3/4`, so the
    20% most doubtful hold at most :math:`0.15 / (1 - a)` of the errors
    at accuracy :math:`a` (half of them needs :math:`a \ge 70\%`); for the
    cluster / non-cluster split :math:`q = \min(p_\mathrm{cl},
    1 - p_\mathrm{cl}) \le 1/2`, so at most :math:`0.1 / (1 - a)` (half
    needs a binary accuracy of at least 80%).

    Parameters
    ----------
    error_probability : array-like of float
        One per source, in [0, 1]: the model's probability that its class
        is wrong, e.g. ``1 - proba.max(axis=1)``, or for the cluster /
        non-cluster split ``np.minimum(prob_cluster, 1 - prob_cluster)``.
        Masked and non-finite values are left out.

    Returns
    -------
    curve : `~astropy.table.Table`
        ``N + 1`` rows for ``N`` sources used: ``fraction`` (``k / N``)
        and ``errors_found`` (the expected fraction of all errors among
        the ``k`` most doubtful).  ``meta``: ``n_used``, ``n_excluded`` and
        ``expected_errors`` (:math:`\sum q`; ``errors_found`` is NaN when it
        is 0).

    Examples
    --------
    >>> from starcnet.metrics import calibrated_error_retention
    >>> curve = calibrated_error_retention([0.5, 0.1, 0.3, 0.1])
    >>> curve['errors_found'].round(3).tolist()
    [0.0, 0.5, 0.8, 0.9, 1.0]
    """
    q = np.ma.asarray(error_probability)
    if q.ndim != 1:
        msg = ('error_probability must be 1-D (one value per source), '
               f'got shape {q.shape}')
        raise ValueError(msg)
    data = _float_data(q, 'error_probability')
    keep = ~np.ma.getmaskarray(q) & np.isfinite(data)
    if np.any((data[keep] < 0) | (data[keep] > 1)):
        msg = ('error_probability must lie in [0, 1] (a probability that the class '
               f'is wrong), got values from {data[keep].min()} to {data[keep].max()}')
        raise ValueError(msg)
    values = np.sort(data[keep])[::-1]
    n = values.size
    found = np.zeros(n + 1)
    found[1:] = np.cumsum(values)
    total = float(found[-1])
    with np.errstate(invalid='ignore', divide='ignore'):
        found = found / total if total > 0 else np.full(n + 1, np.nan)
    fraction = np.arange(n + 1) / n if n else np.zeros(1)
    curve = Table({'fraction': fraction, 'errors_found': found})
    curve.meta['n_used'] = int(n)
    curve.meta['n_excluded'] = int(keep.size - n)
    curve.meta['expected_errors'] = total
    return curve


def auroc(scores_in, scores_out):
    r"""
    Area under the ROC curve of a score that should be higher for
    ``scores_out`` than for ``scores_in``: the probability that a random
    "out" score is above a random "in" score, ties counting one half,

    .. math::

        \mathrm{AUROC} = \frac{1}{n_\mathrm{in} n_\mathrm{out}}
        \sum_{i, j} \bigl([s^\mathrm{out}_j > s^\mathrm{in}_i]
        + \tfrac12 [s^\mathrm{out}_j = s^\mathrm{in}_i]\bigr),

    computed from the ranks (Mann-Whitney U statistic) in
    :math:`O(n \log n)`.  1 separates perfectly, 0.5 is chance.

    Parameters
    ----------
    scores_in, scores_out : array-like
        1-D scores of the two sets (e.g. in-distribution and shifted
        cutouts).  NaN scores are left out.

    Returns
    -------
    auroc : float
        In [0, 1].

    Raises
    ------
    ValueError
        If either set has no score that is not NaN.

    Examples
    --------
    >>> from starcnet.metrics import auroc
    >>> auroc([0.1, 0.2, 0.3], [0.25, 0.9])
    0.8333333333333334
    """
    a = np.asarray(scores_in, dtype=np.float64).reshape(-1)
    b = np.asarray(scores_out, dtype=np.float64).reshape(-1)
    a, b = a[~np.isnan(a)], b[~np.isnan(b)]
    if not a.size or not b.size:
        msg = (f'auroc needs at least one score in each set that is not NaN, '
               f'got {a.size} and {b.size}')
        raise ValueError(msg)
    values = np.concatenate([a, b])
    order = np.argsort(values, kind='mergesort')
    ranks = np.empty(values.size, dtype=np.float64)
    ordered = values[order]
    # ties get the mean of their ranks (1-based)
    starts = np.flatnonzero(np.r_[True, ordered[1:] != ordered[:-1]])
    ends = np.r_[starts[1:], ordered.size]
    mean_rank = (starts + ends + 1) / 2.0
    ranks[order] = np.repeat(mean_rank, ends - starts)
    u_out = ranks[a.size:].sum() - b.size * (b.size + 1) / 2.0
    return float(u_out / (a.size * b.size))


def _id_columns(id_column):
    if isinstance(id_column, str):
        return id_column, id_column
    try:
        a, b = id_column
    except (TypeError, ValueError):
        msg = f'id_column must be a column name or a pair of names, got {id_column!r}'
        raise ValueError(msg) from None
    return a, b


def _column(table, name, which):
    if name not in table.colnames:
        msg = (f'the {which} table has no column {name!r}; it has '
               f'{", ".join(table.colnames) or "none"}')
        raise ValueError(msg)
    return table[name]


def _xy(table, which):
    return np.column_stack(table_positions(table, f'{which} table'))


def _one_to_one(i, j, sep):
    # keep, for every reference object, only its nearest classified object
    order = np.lexsort((sep, j))
    i, j, sep = i[order], j[order], sep[order]
    first = np.ones(j.size, dtype=bool)
    first[1:] = j[1:] != j[:-1]
    i, j, sep = i[first], j[first], sep[first]
    order = np.argsort(i, kind='stable')
    return i[order], j[order], sep[order]


def match_catalogs(classified, reference, *, by='id', max_separation=None,
                   id_column='id', sky_column='sky_centroid',
                   reference_suffix='_reference'):
    """
    Pair the objects of a classified catalog with those of a labelled one.

    Parameters
    ----------
    classified : `~astropy.table.Table`
        The StarcNet output (or any table).
    reference : `~astropy.table.Table`
        The catalog with human labels, e.g. from
        `~starcnet.catalogs.read_legus`.
    by : {'id', 'sky', 'pixel'}, optional
        ``'id'``: equal values of ``id_column`` (ids must be unique in
        each table); ``'sky'``: nearest ``sky_column`` neighbour within
        ``max_separation``; ``'pixel'``: nearest pixel position
        (``x_centroid``/``y_centroid``, ``xcentroid``/``ycentroid`` or
        ``x``/``y``, both on the same image grid) within
        ``max_separation``.
    max_separation : `~astropy.units.Quantity` or float, optional
        For ``'sky'`` an angle (default 0.1 arcsec, 2.5 LEGUS pixels);
        for ``'pixel'`` a number of pixels (default 1).  Each reference
        object is paired with at most one classified object, the
        nearest.
    id_column : str or (str, str), optional
        Id column name, or names in (classified, reference).
    sky_column : str, optional
        Name of the `~astropy.coordinates.SkyCoord` column in both tables.
    reference_suffix : str, optional
        Appended to the names of reference columns that the classified
        table also has.

    Returns
    -------
    matched : `~astropy.table.QTable`
        One row per pair, in the order of ``classified``: the columns of
        ``classified``, then those of ``reference`` (renamed with
        ``reference_suffix`` on a clash), ``index_classified`` and
        ``index_reference`` (row numbers in the input tables) and, for
        ``'sky'`` and ``'pixel'``, ``separation`` (arcsec or pixels).
        ``meta['match']`` has ``by``, ``n_classified``, ``n_reference``
        and ``n_matched``.

    Examples
    --------
    >>> from astropy.table import QTable
    >>> from starcnet.metrics import match_catalogs
    >>> out = QTable({'id': [3, 1, 2], 'cluster_class': [4, 1, 2]})
    >>> legus = QTable({'id': [1, 2, 3, 4], 'human_class': [1, 1, 4, 2]})
    >>> m = match_catalogs(out, legus)
    >>> m['id', 'cluster_class', 'human_class'].pprint()
     id cluster_class human_class
    --- ------------- -----------
      3             4           4
      1             1           1
      2             2           1
    """
    if by not in ('id', 'sky', 'pixel'):
        msg = f"by must be 'id', 'sky' or 'pixel', got {by!r}"
        raise ValueError(msg)
    separation = None
    if by == 'id':
        a, b = _id_columns(id_column)
        ids = []
        for table, name, which in ((classified, a, 'classified'),
                                   (reference, b, 'reference')):
            values = np.asarray(_column(table, name, which))
            uniq, counts = np.unique(values, return_counts=True)
            if np.any(counts > 1):
                dup = uniq[counts > 1][:5].tolist()
                msg = (f'ids in column {name!r} of the {which} table are not '
                       f'unique (e.g. {dup}); match by sky or pixel position')
                raise ValueError(msg)
            ids.append(values)
        _, i, j = np.intersect1d(ids[0], ids[1], assume_unique=True,
                                 return_indices=True)
        order = np.argsort(i, kind='stable')
        i, j = i[order], j[order]
    elif by == 'sky':
        max_sep = 0.1 * u.arcsec if max_separation is None else max_separation
        if not isinstance(max_sep, u.Quantity) or max_sep.unit.physical_type != 'angle':
            msg = (f"max_separation must be an angle for by='sky' (e.g. "
                   f'0.1 * u.arcsec), got {max_separation!r}')
            raise ValueError(msg)
        c1 = _column(classified, sky_column, 'classified')
        c2 = _column(reference, sky_column, 'reference')
        if not (isinstance(c1, SkyCoord) and isinstance(c2, SkyCoord)):
            msg = f'column {sky_column!r} must be a SkyCoord in both tables'
            raise ValueError(msg)
        if len(c1) and len(c2):
            j, sep, _ = c1.match_to_catalog_sky(c2)
            i = np.arange(len(c1))
            ok = sep <= max_sep
            i, j, sep = i[ok], j[ok], sep[ok].to(u.arcsec).value
            i, j, sep = _one_to_one(i, j, sep)
        else:
            i = j = np.zeros(0, dtype=int)
            sep = np.zeros(0)
        separation = sep * u.arcsec
    else:
        max_sep = 1.0 if max_separation is None else max_separation
        if isinstance(max_sep, u.Quantity):
            max_sep = max_sep.to_value(u.pix)
        max_sep = float(max_sep)
        p1, p2 = _xy(classified, 'classified'), _xy(reference, 'reference')
        if len(p1) and len(p2):
            from scipy.spatial import cKDTree

            sep, j = cKDTree(p2).query(p1, distance_upper_bound=max_sep)
            ok = np.isfinite(sep)
            i = np.flatnonzero(ok)
            i, j, sep = _one_to_one(i, j[ok], sep[ok])
        else:
            i = j = np.zeros(0, dtype=int)
            sep = np.zeros(0)
        separation = sep

    matched = QTable(classified[i], copy=True)
    matched.meta = dict(classified.meta)
    right = QTable(reference[j], copy=True)
    for name in right.colnames:
        new = name + reference_suffix if name in matched.colnames else name
        matched[new] = right[name]
    matched['index_classified'] = np.asarray(i, dtype=np.int64)
    matched['index_reference'] = np.asarray(j, dtype=np.int64)
    if separation is not None:
        matched['separation'] = separation
    matched.meta['match'] = {'by': by, 'n_classified': len(classified),
                             'n_reference': len(reference), 'n_matched': len(i)}
    return matched
