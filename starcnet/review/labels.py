# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""
A reviewer's labels as columns of the catalog, written atomically.
"""

import os

import numpy as np
from astropy.table import MaskedColumn

from ..io import write_catalog
from .journal import (CatalogMismatchError, LabelJournal, _as_catalog, _current, _read,
                      catalog_checksum)

__all__ = ['LABEL_COLUMNS', 'labelled_catalog', 'write_labels']

#: The columns `labelled_catalog` adds, with their descriptions.
LABEL_COLUMNS = {
    'human_class': 'LEGUS class 1-4 given by the reviewer; masked where the source '
                   'has no label or was labelled skip or unsure',
    'human_label': "the reviewer's last label: 1, 2, 3, 4, skip or unsure; masked "
                   'where the source has no label',
    'human_reviewer': 'name of the reviewer; masked where the source has no label',
    'human_time': 'time of the label (UTC, ISO 8601); masked where the source has no label',
    'human_note': "the reviewer's note on the label; masked where none",
}


def _journal_state(journal):
    """``(header, {row: record})`` of a `LabelJournal` or a journal file."""
    if isinstance(journal, LabelJournal):
        return journal.header, journal.current_records()
    if isinstance(journal, (str, os.PathLike)):
        header, records = _read(journal)
        return header, _current(records)
    msg = (f'journal must be a LabelJournal or the path of a journal file, got '
           f'{type(journal).__name__}')
    raise TypeError(msg)


def _string_column(values, present, description):
    return MaskedColumn([v if ok else '' for v, ok in zip(values, present)], dtype=str,
                        mask=~present, description=description)


def labelled_catalog(catalog, journal):
    """
    The catalog with the journal's labels as ``human_*`` columns.

    Parameters
    ----------
    catalog : `~astropy.table.Table` or path-like
        The catalog the journal belongs to.
    journal : `~starcnet.review.LabelJournal` or path-like
        A journal, open or its file (read without changing it).

    Returns
    -------
    catalog : `~astropy.table.Table`
        A copy, with the columns of `LABEL_COLUMNS` (replacing any of
        that name): ``human_class`` (int, masked unless the last label
        is a class 1-4) and ``human_label`` (str, the last label itself,
        also ``'skip'`` or ``'unsure'``), ``human_reviewer``,
        ``human_time`` and ``human_note``, masked where the source has
        no label (``human_note`` also where the label has no note).
        ``meta['starcnet_review']`` records the reviewer, the journal
        file and the number of sources labelled.

    Raises
    ------
    CatalogMismatchError
        If the journal belongs to another catalog.
    """
    table, _ = _as_catalog(catalog)
    header, current = _journal_state(journal)
    id_column = header['catalog'].get('id_column')
    checksum, _ = catalog_checksum(table, id_column=id_column)
    if (len(table) != header['catalog']['n_rows']
            or checksum != header['catalog']['checksum']):
        msg = (f'the journal of {header["reviewer"]!r} belongs to another catalog '
               f'({header["catalog"]["n_rows"]} rows, {header["catalog"]["checksum"]}) '
               f'than the one given ({len(table)} rows, {checksum})')
        raise CatalogMismatchError(msg)
    n = len(table)
    present = np.zeros(n, dtype=bool)
    present[list(current)] = True
    labels = [''] * n
    reviewers, times, notes = [''] * n, [''] * n, [''] * n
    classes = np.zeros(n, dtype=np.int64)
    has_note = np.zeros(n, dtype=bool)
    for row, record in current.items():
        labels[row] = str(record['label'])
        reviewers[row] = record['reviewer']
        times[row] = record['time']
        if isinstance(record['label'], int):
            classes[row] = record['label']
        if record.get('note') is not None:
            notes[row] = record['note']
            has_note[row] = True
    out = table.copy()
    for name in LABEL_COLUMNS:
        if name in out.colnames:
            out.remove_column(name)
    out['human_class'] = MaskedColumn(classes, mask=classes == 0,
                                      description=LABEL_COLUMNS['human_class'])
    out['human_label'] = _string_column(labels, present, LABEL_COLUMNS['human_label'])
    out['human_reviewer'] = _string_column(reviewers, present,
                                           LABEL_COLUMNS['human_reviewer'])
    out['human_time'] = _string_column(times, present, LABEL_COLUMNS['human_time'])
    out['human_note'] = _string_column(notes, has_note, LABEL_COLUMNS['human_note'])
    out.meta['starcnet_review'] = {'reviewer': header['reviewer'],
                                   'journal': os.path.abspath(os.fspath(
                                       journal.path if isinstance(journal, LabelJournal)
                                       else journal)),
                                   'n_labelled': int(present.sum()),
                                   'id_column': id_column,
                                   'catalog_checksum': header['catalog']['checksum']}
    return out


def write_labels(catalog, journal, path, *, overwrite=False, format=None):
    """
    Write the catalog with the journal's labels, atomically.

    The table of `labelled_catalog` is written by
    `starcnet.io.write_catalog` (ECSV or VOTable by the file name): to a
    temporary file moved into place, so a crash leaves either the old
    file or the new one, never half of one.  The journal stays the
    record of every label; the catalog can be written again from it at
    any time.

    Parameters
    ----------
    catalog : `~astropy.table.Table` or path-like
        The catalog the journal belongs to.
    journal : `~starcnet.review.LabelJournal` or path-like
    path : path-like
        Output catalog.
    overwrite : bool, optional
        Replace an existing file (e.g. the labels written a moment
        ago); without it an existing file is an error.
    format : {'ecsv', 'votable'}, optional
        The format, whatever the file name.

    Returns
    -------
    catalog : `~astropy.table.Table`
        The table written.
    """
    out = labelled_catalog(catalog, journal)
    write_catalog(out, path, format=format, overwrite=overwrite)
    return out
