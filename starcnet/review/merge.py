# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""
Several reviewers' labels of one catalog merged: the mode per source,
the agreement per source and between reviewers (fraction and Cohen's
kappa), the numbers LEGUS and PHANGS report.
"""

import collections
import itertools
import os

import numpy as np
from astropy.table import MaskedColumn, Table

from .journal import (CLASS_LABELS, CatalogMismatchError, LabelJournal,
                      _as_catalog, _current, _read, _source_ids, catalog_checksum,
                      check_label)

__all__ = ['MergedReviews', 'merge_reviews', 'cohen_kappa']

_N_CLASSES = len(CLASS_LABELS)


MergedReviews = collections.namedtuple('MergedReviews', ['sources', 'pairs', 'agreement',
                                                         'kappa'])
MergedReviews.__doc__ = """\
The result of `merge_reviews`.

Attributes
----------
sources : `~astropy.table.Table`
    One row per catalog row.
pairs : `~astropy.table.Table`
    One row per pair of reviewers.
agreement : `~astropy.table.Table`
    The reviewer x reviewer matrix of the fraction of commonly labelled
    sources given the same class.
kappa : `~astropy.table.Table`
    The reviewer x reviewer matrix of Cohen's kappa.
"""


def cohen_kappa(a, b):
    """
    Cohen's kappa of two reviewers' classes of the same sources.

    ``(p_o - p_e) / (1 - p_e)``, with ``p_o`` the fraction of sources
    given the same class and ``p_e`` the fraction expected by chance
    from each reviewer's own class frequencies.

    Parameters
    ----------
    a, b : array-like of int
        Classes 1-4, one pair per source.

    Returns
    -------
    kappa : float
        NaN where undefined: no sources, or both reviewers giving one
        and the same class to every source (``p_e = 1``).

    Examples
    --------
    >>> from starcnet.review import cohen_kappa
    >>> round(cohen_kappa([1, 1, 2, 2], [1, 2, 2, 2]), 3)
    0.5
    """
    a, b = np.asarray(a, dtype=np.int64), np.asarray(b, dtype=np.int64)
    if a.shape != b.shape or a.ndim != 1:
        msg = f'a and b must be 1-d and of one length, got shapes {a.shape} and {b.shape}'
        raise ValueError(msg)
    if a.size == 0:
        return float('nan')
    bad = ~np.isin(a, CLASS_LABELS) | ~np.isin(b, CLASS_LABELS)
    if bad.any():
        msg = f'classes must be 1-4; got {sorted(set(a[bad]) | set(b[bad]))}'
        raise ValueError(msg)
    observed = np.mean(a == b)
    pa = np.bincount(a - 1, minlength=_N_CLASSES) / a.size
    pb = np.bincount(b - 1, minlength=_N_CLASSES) / b.size
    expected = float(np.dot(pa, pb))
    if expected >= 1.0:
        return float('nan')
    return float((observed - expected) / (1.0 - expected))


def _from_journal(journal):
    if isinstance(journal, LabelJournal):
        header, current = journal.header, journal.current_records()
    else:
        header, records = _read(journal)
        current = _current(records)
    labels = {row: r['label'] for row, r in current.items()}
    return header['reviewer'], header['catalog'], labels


def _is_journal_file(path):
    with open(path, 'rb') as fh:
        start = fh.read(64).lstrip()
    return start.startswith(b'{"starcnet_label_journal"')


def _from_catalog(table, where):
    if 'human_label' not in table.colnames and 'human_class' not in table.colnames:
        msg = (f'{where} has no human_label or human_class column: give journals or '
               'catalogs written by starcnet.review.write_labels')
        raise ValueError(msg)
    review = table.meta.get('starcnet_review', {})
    reviewer = review.get('reviewer') if isinstance(review, dict) else None
    if reviewer is None and 'human_reviewer' in table.colnames:
        col = table['human_reviewer']
        mask = np.asarray(getattr(col, 'mask', np.zeros(len(col), bool)))
        names = set(np.asarray(col)[~mask].tolist())
        if len(names) == 1:
            reviewer = names.pop()
    named = isinstance(reviewer, str)
    if not named:
        msg = (f'{where} does not name one reviewer (meta["starcnet_review"]'
               '["reviewer"] or a single human_reviewer)')
        raise ValueError(msg)
    name = 'human_label' if 'human_label' in table.colnames else 'human_class'
    col = table[name]
    mask = np.asarray(getattr(col, 'mask', np.zeros(len(col), bool)))
    labels = {}
    for row in np.flatnonzero(~mask):
        value = np.asarray(col)[row]
        value = value.item() if isinstance(value, np.generic) else value
        if isinstance(value, str) and value.isdigit():
            value = int(value)
        labels[int(row)] = check_label(value)
    id_column = review.get('id_column', 'id') if isinstance(review, dict) else 'id'
    checksum, of = catalog_checksum(table, id_column=id_column)
    return reviewer, {'n_rows': len(table), 'checksum': checksum, 'path': where,
                      'id_column': id_column if of == 'id' else None}, labels


def _load(review, index):
    if isinstance(review, LabelJournal):
        return _from_journal(review)
    if isinstance(review, Table):
        return _from_catalog(review, f'labelled catalog {index}')
    if isinstance(review, (str, os.PathLike)):
        if _is_journal_file(review):
            return _from_journal(review)
        table, path = _as_catalog(review)
        return _from_catalog(table, repr(path))
    msg = (f'reviews[{index}] is a {type(review).__name__}; give LabelJournal objects, '
           'journal files, or labelled catalogs (tables or files)')
    raise TypeError(msg)


def _matrix(names, values, what):
    table = Table()
    table['reviewer'] = np.array(names, dtype=str)
    for j, name in enumerate(names):
        table[name] = values[:, j]
        table[name].info.description = f'{what} with {name}'
    return table


def merge_reviews(reviews, *, catalog=None, id_column='id'):
    """
    Merge several reviewers' labels of one catalog.

    Only classes 1-4 are votes: a ``'skip'`` or ``'unsure'`` label
    counts as no label of that reviewer.

    Parameters
    ----------
    reviews : sequence
        Two or more (one is allowed) `~starcnet.review.LabelJournal`
        objects, journal files, or labelled catalogs (tables or files
        written by `~starcnet.review.write_labels`), of distinct
        reviewers and all of the same catalog.
    catalog : `~astropy.table.Table` or path-like, optional
        The catalog itself: checked against the reviews, and its
        ``id_column`` copied into ``sources``.
    id_column : str, optional
        The id column of ``catalog``.

    Returns
    -------
    merged : `MergedReviews`
        ``sources``: one row per catalog row, with ``row``, the id
        (where ``catalog`` is given and has one), ``class_<reviewer>``
        per reviewer (masked where none), ``human_class`` (the mode;
        masked where no reviewer gave a class, and where two or more
        classes tie for the most votes), ``n_reviewers`` (reviewers who
        gave a class), ``n_agree`` (votes for the modal class),
        ``agreement`` (``n_agree / n_reviewers``: the fraction agreeing
        with the mode, also for a tie; masked where ``n_reviewers`` is
        0) and ``tie`` (bool).

        ``pairs``: one row per pair of reviewers, with ``n_common``
        (sources both gave a class), ``agreement`` (the fraction of
        those given the same class) and ``kappa`` (`cohen_kappa`); NaN
        where ``n_common`` is 0.

        ``agreement`` and ``kappa``: the same as reviewer x reviewer
        matrices (a ``reviewer`` column, then one column per reviewer;
        the diagonal is each reviewer with themself).

    Raises
    ------
    CatalogMismatchError
        If the reviews belong to different catalogs, or not to
        ``catalog``.
    ValueError
        If no reviews are given, or a reviewer appears twice.
    """
    if isinstance(reviews, (str, os.PathLike, Table, LabelJournal)):
        reviews = [reviews]
    loaded = [_load(review, i) for i, review in enumerate(reviews)]
    if not loaded:
        msg = 'give at least one review (journal or labelled catalog) to merge'
        raise ValueError(msg)
    names = [name for name, _, _ in loaded]
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        msg = (f'reviewer(s) {repeated} appear in more than one review; merge each '
               "reviewer's labels once")
        raise ValueError(msg)
    first = loaded[0][1]
    for name, cat, _ in loaded[1:]:
        if cat['n_rows'] != first['n_rows'] or cat['checksum'] != first['checksum']:
            msg = (f'the reviews of {names[0]!r} and {name!r} belong to different '
                   f'catalogs ({first["n_rows"]} rows, {first["checksum"]} and '
                   f'{cat["n_rows"]} rows, {cat["checksum"]})')
            raise CatalogMismatchError(msg)
    n = first['n_rows']
    ids = None
    if catalog is not None:
        table, _ = _as_catalog(catalog)
        if (len(table) != n or first['checksum']
                != catalog_checksum(table, id_column=first.get('id_column'))[0]):
            msg = (f'the reviews belong to another catalog ({n} rows, '
                   f'{first["checksum"]}) than the one given ({len(table)} rows)')
            raise CatalogMismatchError(msg)
        ids = _source_ids(table, id_column)

    # classes[r, i]: reviewer r's class of row i, 0 where none
    classes = np.zeros((len(loaded), n), dtype=np.int64)
    for r, (_, _, labels) in enumerate(loaded):
        for row, label in labels.items():
            if isinstance(label, int):
                classes[r, row] = label
    votes = np.stack([(classes == c).sum(axis=0) for c in CLASS_LABELS], axis=1)
    n_reviewers = (classes > 0).sum(axis=0)
    n_agree = votes.max(axis=1)
    tie = (votes == n_agree[:, None]).sum(axis=1) > 1
    tie &= n_reviewers > 0
    mode = np.asarray(CLASS_LABELS)[votes.argmax(axis=1)]
    none = n_reviewers == 0
    agreement = np.divide(n_agree, n_reviewers, out=np.zeros(n), where=~none)

    sources = Table()
    sources['row'] = np.arange(n)
    if ids is not None:
        sources[id_column] = ids
    for r, name in enumerate(names):
        sources[f'class_{name}'] = MaskedColumn(classes[r], mask=classes[r] == 0,
                                                description=f'class given by {name}')
    sources['human_class'] = MaskedColumn(
        mode, mask=none | tie,
        description='the mode of the reviewers\' classes; masked where none or a tie')
    sources['n_reviewers'] = MaskedColumn(n_reviewers,
                                          description='number of reviewers who gave a class')
    sources['n_agree'] = MaskedColumn(n_agree, description='votes for the modal class')
    sources['agreement'] = MaskedColumn(
        agreement, mask=none, description='fraction of the reviewers agreeing with the mode')
    sources['tie'] = tie
    sources['tie'].info.description = 'two or more classes have the most votes'
    sources.meta['reviewers'] = list(names)

    k = len(names)
    fraction = np.full((k, k), np.nan)
    kappa = np.full((k, k), np.nan)
    common_counts = np.zeros((k, k), dtype=np.int64)
    for i, j in itertools.product(range(k), repeat=2):
        common = (classes[i] > 0) & (classes[j] > 0)
        common_counts[i, j] = common.sum()
        if common.any():
            fraction[i, j] = np.mean(classes[i, common] == classes[j, common])
            kappa[i, j] = cohen_kappa(classes[i, common], classes[j, common])
    ij = np.array(list(itertools.combinations(range(k), 2)), dtype=np.int64).reshape(-1, 2)
    i, j = ij[:, 0], ij[:, 1]
    pairs = Table()
    pairs['reviewer_a'] = np.array([names[a] for a in i], dtype=str)
    pairs['reviewer_b'] = np.array([names[b] for b in j], dtype=str)
    pairs['n_common'] = common_counts[i, j]
    pairs['agreement'] = fraction[i, j]
    pairs['kappa'] = kappa[i, j]
    pairs['n_common'].info.description = 'sources both reviewers gave a class'
    pairs['agreement'].info.description = 'fraction of those given the same class'
    pairs['kappa'].info.description = "Cohen's kappa of those sources"
    return MergedReviews(sources, pairs,
                         _matrix(names, fraction, 'fraction of common sources in agreement'),
                         _matrix(names, kappa, "Cohen's kappa"))
