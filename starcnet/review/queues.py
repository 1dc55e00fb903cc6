# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""
Review orders ("queues") of a classified catalog: by review priority or
the model's doubt, by class, by uncertainty, by position, at random.
"""

import numpy as np

__all__ = ['QUEUES', 'POSITION_STRIPE', 'review_order', 'queue_description']

#: The queues of the review page, in the order its menu lists them.
QUEUES = ('priority', 'uncertainty', 'class1', 'class2', 'class3', 'class4',
          'unclassified', 'position', 'random', 'catalog')
#: Height in pixels of the stripes of the ``'position'`` queue.
POSITION_STRIPE = 128


def _values(catalog, name):
    """A column as float64 with NaN where masked or not finite."""
    column = np.ma.asarray(catalog[name])
    values = np.ma.getdata(column).astype(float)
    values[np.ma.getmaskarray(column)] = np.nan
    values[~np.isfinite(values)] = np.nan
    return values


def _prob_columns(catalog):
    names = [f'prob_class{k}' for k in range(1, 5)]
    return names if all(n in catalog.colnames for n in names) else None


def _by(values, descending=False):
    """Rows by ``values`` (NaN last), ties in catalog order."""
    key = -values if descending else values
    key = np.where(np.isnan(key), np.inf, key)
    return np.argsort(key, kind='stable')


def _classes(catalog):
    if 'cluster_class' not in catalog.colnames:
        return None
    column = np.ma.asarray(catalog['cluster_class'])
    classes = np.ma.getdata(column).astype(np.int64)
    classes[np.ma.getmaskarray(column)] = 0
    return classes


def _priority(catalog):
    if 'review_priority' in catalog.colnames:
        return _by(_values(catalog, 'review_priority'), descending=True), 'review_priority'
    if 'class_quality' in catalog.colnames:
        return _by(_values(catalog, 'class_quality')), 'class_quality'
    probs = _prob_columns(catalog)
    if probs:
        top = np.max(np.column_stack([_values(catalog, n) for n in probs]), axis=1)
        return _by(top), 'max_probability'
    return np.arange(len(catalog)), 'catalog'


def _entropy(catalog):
    if 'entropy' in catalog.colnames:
        return _values(catalog, 'entropy'), 'entropy'
    probs = _prob_columns(catalog)
    if not probs:
        return None, None
    p = np.column_stack([_values(catalog, n) for n in probs])
    with np.errstate(divide='ignore', invalid='ignore'):
        terms = np.where(p > 0, -p * np.log(p), 0.0)
    h = terms.sum(axis=1)
    h[np.any(np.isnan(p), axis=1)] = np.nan
    return h, 'entropy_of_probabilities'


def _position(catalog):
    from ..cutouts import table_positions

    x, y = table_positions(catalog, 'catalog')
    stripe = np.floor(y / POSITION_STRIPE).astype(np.int64)
    # a serpentine: left to right in even stripes, right to left in odd ones
    along = np.where(stripe % 2 == 0, x, -x)
    return np.lexsort((along, stripe))


def review_order(catalog, queue='priority', *, seed=0):
    """
    The rows of a catalog in the order of a review queue.

    Parameters
    ----------
    catalog : `~astropy.table.Table`
        A catalog (classified, or only with positions).
    queue : str, optional
        One of `QUEUES`:

        ``'priority'``
            Highest ``review_priority`` first where the catalog has that
            column; else lowest ``class_quality`` (Monte Carlo dropout
            agreement) first; else lowest highest-class probability
            first; else the catalog order.
        ``'uncertainty'``
            Highest ``entropy`` (of the Monte Carlo dropout mean) first,
            or, without that column, highest entropy of
            ``prob_class1..4``.
        ``'class1'`` ... ``'class4'``
            Only the sources the model put in that class, least
            probable first.
        ``'unclassified'``
            Only the sources the model did not classify (masked
            ``cluster_class``; see ``starcnet_flags``).
        ``'position'``
            Across the image in stripes of `POSITION_STRIPE` pixels in
            y, left to right and right to left in turn, so that
            neighbours come together.
        ``'random'``
            A random permutation, the same for the same ``seed`` (and so
            across restarts).
        ``'catalog'``
            The catalog order.

        Sources without the value a queue sorts by (masked, not
        classified) come last, in catalog order; ties keep catalog
        order.
    seed : int, optional
        Seed of the ``'random'`` queue.

    Returns
    -------
    rows : `~numpy.ndarray` of int64

    Raises
    ------
    ValueError
        If the queue is unknown, or the catalog lacks the columns it
        needs (the class queues need ``cluster_class``).

    Examples
    --------
    >>> from astropy.table import Table
    >>> from starcnet.review.queues import review_order
    >>> t = Table({'x': [1., 2., 3.], 'y': [1., 1., 1.], 'class_quality': [0.9, 0.4, 0.6]})
    >>> review_order(t, 'priority').tolist()
    [1, 2, 0]
    """
    n = len(catalog)
    if queue == 'priority':
        rows = _priority(catalog)[0]
    elif queue == 'uncertainty':
        h, _ = _entropy(catalog)
        if h is None:
            msg = ("the 'uncertainty' queue needs an entropy column or prob_class1..4 "
                   'columns: classify the catalog first')
            raise ValueError(msg)
        rows = _by(h, descending=True)
    elif queue in ('class1', 'class2', 'class3', 'class4', 'unclassified'):
        classes = _classes(catalog)
        if classes is None:
            msg = (f'the {queue!r} queue needs the cluster_class column: classify the '
                   'catalog first (starcnet classify)')
            raise ValueError(msg)
        if queue == 'unclassified':
            rows = np.flatnonzero(classes == 0)
        else:
            k = int(queue[-1])
            rows = np.flatnonzero(classes == k)
            name = f'prob_class{k}'
            if name in catalog.colnames:
                rows = rows[_by(_values(catalog, name)[rows])]
    elif queue == 'position':
        rows = _position(catalog)
    elif queue == 'random':
        rows = np.random.default_rng(seed).permutation(n)
    elif queue == 'catalog':
        rows = np.arange(n)
    else:
        msg = f'unknown review queue {queue!r}; choose one of {", ".join(QUEUES)}'
        raise ValueError(msg)
    return np.asarray(rows, dtype=np.int64)


def queue_description(catalog, queue):
    """A short sentence saying what the queue is ordered by, for the page."""
    if queue == 'priority':
        by = _priority(catalog)[1]
        return {'review_priority': 'highest review_priority first',
                'class_quality': 'lowest class_quality (MC dropout agreement) first',
                'max_probability': 'lowest top-class probability first',
                'catalog': 'catalog order (no priority columns)'}[by]
    if queue == 'uncertainty':
        by = _entropy(catalog)[1]
        return ('highest MC dropout entropy first' if by == 'entropy'
                else 'highest entropy of the class probabilities first')
    if queue.startswith('class'):
        return f'model class {queue[-1]}, least probable first'
    return {'unclassified': 'sources the model did not classify',
            'position': f'across the image in {POSITION_STRIPE}-px stripes',
            'random': 'random order (seeded)',
            'catalog': 'catalog order'}.get(queue, queue)
