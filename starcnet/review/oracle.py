# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""
Reviewers' labels for the active-learning loop: the classes of chosen
catalog rows, read from a label journal or a labelled catalog, in the
codes `starcnet.training.ActiveLearner.teach` takes.
"""

import os

import numpy as np

from ..io import read_catalog
from .journal import LabelJournal, _current, _read

__all__ = ['review_labels', 'ReviewOracle']

# the codes of starcnet.training.active (NO_CLASS, NOT_REVIEWED); the
# review package is above training in the layers, so it could import
# them, but keeps its reading of journals free of torch
_NO_CLASS, _NOT_REVIEWED = 0, -1


def _codes_from_labels(current, n_rows):
    """``(n_rows,)`` codes of ``{row: label}``."""
    codes = np.full(n_rows, _NOT_REVIEWED, dtype=np.int64)
    for row, label in current.items():
        codes[row] = label if isinstance(label, int) else _NO_CLASS
    return codes


def _codes_from_table(table, class_column):
    if class_column not in table.colnames:
        msg = (f'the labelled catalog has no column {class_column!r}; its columns are '
               f'{", ".join(table.colnames)} (write it with starcnet.review.write_labels, '
               'or name the class column with class_column=)')
        raise ValueError(msg)
    column = table[class_column]
    values = np.ma.asarray(getattr(column, 'value', column))
    mask = np.ma.getmaskarray(values)
    raw = np.asarray(values.filled(0), dtype=float)
    if np.any(~mask & ~np.isin(raw, (0, 1, 2, 3, 4))):
        msg = f'column {class_column!r} holds values other than the LEGUS classes 1-4'
        raise ValueError(msg)
    codes = np.where(mask | (raw == 0), _NOT_REVIEWED, raw).astype(np.int64)
    if 'human_label' in table.colnames:
        # a labelled catalog of write_labels: a label without a class is
        # 'skip' or 'unsure', looked at
        looked = ~np.ma.getmaskarray(np.ma.asarray(table['human_label']))
        codes[looked & (codes == _NOT_REVIEWED)] = _NO_CLASS
    return codes


def _all_codes(source, class_column):
    if isinstance(source, LabelJournal):
        return _codes_from_labels(source.current(), source.n_rows)
    if hasattr(source, 'colnames'):
        return _codes_from_table(source, class_column)
    if isinstance(source, (str, os.PathLike)):
        path = os.fspath(source)
        if path.endswith(('.jsonl', '.json')):
            header, records = _read(path)
            current = {row: r['label'] for row, r in _current(records).items()}
            return _codes_from_labels(current, header['catalog']['n_rows'])
        return _codes_from_table(read_catalog(path), class_column)
    msg = ('source must be a LabelJournal, a journal file (.jsonl), a labelled catalog '
           f'(Table) or its file, got {type(source).__name__}')
    raise TypeError(msg)


def review_labels(source, rows, *, class_column='human_class'):
    """
    The reviewers' classes of catalog rows, as active-learning codes.

    Parameters
    ----------
    source : `~starcnet.review.LabelJournal`, path-like or `~astropy.table.Table`
        An open journal, a journal file (``.jsonl``, read without
        changing it), or a labelled catalog (a table or a catalog file,
        e.g. the ECSV of `~starcnet.review.write_labels`).
    rows : array-like of int
        Catalog rows (from 0), e.g. those `~starcnet.training.select_batch`
        chose when the pool is the catalog's cutouts in row order.
    class_column : str, optional
        Class column of a labelled catalog: classes 1-4, masked or 0
        where there is none.

    Returns
    -------
    labels : `~numpy.ndarray`
        int64, one per row: the class 1-4; 0 for a row looked at without a
        class (``'skip'`` or ``'unsure'``; in a catalog, a ``human_label``
        without a ``human_class``); -1 for a row not reviewed yet.  The
        codes of `starcnet.training.ActiveLearner.teach`.

    Raises
    ------
    ValueError
        If a row is outside the catalog, or the catalog has no class column.

    Examples
    --------
    >>> import os, tempfile
    >>> from astropy.table import Table
    >>> from starcnet.review import LabelJournal, review_labels
    >>> catalog = Table({'id': [1, 2, 3], 'x': [5.0, 9.0, 20.0], 'y': [7.0, 3.0, 8.0]})
    >>> folder = tempfile.TemporaryDirectory()
    >>> path = os.path.join(folder.name, 'ana.labels.jsonl')
    >>> with LabelJournal(path, 'ana', catalog) as journal:
    ...     _ = journal.append(0, 3)
    ...     _ = journal.append(2, 'unsure')
    >>> review_labels(path, [0, 1, 2]).tolist()
    [3, -1, 0]
    >>> folder.cleanup()
    """
    codes = _all_codes(source, class_column)
    rows = np.asarray(rows)
    if rows.ndim != 1 or (rows.size and not np.issubdtype(rows.dtype, np.integer)):
        msg = 'rows must be a 1-d sequence of integer row numbers'
        raise TypeError(msg)
    if rows.size and (rows.min() < 0 or rows.max() >= codes.size):
        msg = f'rows must be catalog rows 0 to {codes.size - 1}'
        raise ValueError(msg)
    return codes[rows]


class ReviewOracle:
    """
    An oracle for `starcnet.training.ActiveLearner` that reads the
    reviewers' labels of the chosen rows, afresh at every call, from a
    journal or labelled catalog (see `review_labels`).

    Parameters
    ----------
    source : `~starcnet.review.LabelJournal`, path-like or `~astropy.table.Table`
        As in `review_labels`.
    rows : array-like of int, optional
        The catalog row of each pool cutout (when the pool is not the
        whole catalog in row order, e.g. the candidates left after a cut).
    class_column : str, optional
        As in `review_labels`.
    """

    def __init__(self, source, rows=None, *, class_column='human_class'):
        self.source = source
        self.rows = None if rows is None else np.asarray(rows, dtype=np.int64)
        self.class_column = class_column

    def __call__(self, indices):
        indices = np.asarray(indices, dtype=np.int64)
        rows = indices if self.rows is None else self.rows[indices]
        return review_labels(self.source, rows, class_column=self.class_column)
