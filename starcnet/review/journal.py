# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""
The label journal: every human label of a catalog, on disk the moment it
is given.

A journal is a JSON Lines file, one reviewer's and one catalog's.  Its
first line is a header naming the catalog (path, number of rows and a
checksum of the source ids or positions) and the reviewer; every further
line is one label.  A label is appended, flushed and ``fsync``'ed before
`LabelJournal.append` returns, so a crash, ``kill -9`` or power loss
loses no label already acknowledged.  A last line torn by a crash in the
middle of a write is ignored with a warning, and cut off when the
journal is next opened for writing.  A later label of a source
supersedes the earlier ones; nothing is ever rewritten.
"""

import datetime
import errno
import hashlib
import json
import numbers
import os
import re
import warnings

import numpy as np
from astropy.table import MaskedColumn, Table

from ..cutouts import table_positions
from ..exceptions import StarcnetWarning
from ..io import read_catalog
from ..io._atomic import atomic_write

try:                        # POSIX: one writer per journal
    import fcntl
except ImportError:         # pragma: no cover (Windows: no lock)
    fcntl = None

__all__ = ['LABELS', 'CLASS_LABELS', 'JOURNAL_VERSION', 'JournalError',
           'CatalogMismatchError', 'TornLineWarning', 'LabelJournal',
           'read_journal', 'catalog_checksum']

#: The LEGUS classes a reviewer can give.
CLASS_LABELS = (1, 2, 3, 4)
#: Every label of a journal: a class, or ``'skip'`` (looked at, not
#: classified) or ``'unsure'`` (looked at, no class could be decided).
LABELS = CLASS_LABELS + ('skip', 'unsure')
#: Format version written in the header of new journals.
JOURNAL_VERSION = 1

_HEADER_KEY = 'starcnet_label_journal'
# errnos of flock where the file system has no locks
_NO_LOCKS = {errno.ENOLCK, getattr(errno, 'EOPNOTSUPP', errno.ENOLCK),
             getattr(errno, 'ENOTSUP', errno.ENOLCK)}
_CONTROL = re.compile(r'[\x00-\x1f\x7f]')


class JournalError(ValueError):
    """
    A label journal is malformed, belongs to another reviewer, or is in
    use by another process.
    """


class CatalogMismatchError(JournalError):
    """
    A label journal was opened against a catalog other than its own.
    """


class TornLineWarning(StarcnetWarning):
    """
    The last line of a label journal was cut short (a crash while it was
    written) and is ignored; that label had not been acknowledged.
    """


def _utc_now():
    now = datetime.datetime.now(datetime.timezone.utc)
    return now.isoformat(timespec='milliseconds')


def _check_reviewer(reviewer):
    if not isinstance(reviewer, str):
        msg = f'reviewer must be a name (str), got {type(reviewer).__name__}'
        raise TypeError(msg)
    if not reviewer.strip() or reviewer != reviewer.strip() or _CONTROL.search(reviewer):
        msg = (f'reviewer {reviewer!r} is not a usable name: give a non-empty '
               'name without leading or trailing spaces or control characters')
        raise ValueError(msg)
    return reviewer


def check_label(label):
    """``label`` as stored: an int 1-4, ``'skip'`` or ``'unsure'``."""
    if isinstance(label, (bool, np.bool_)):
        pass
    elif isinstance(label, numbers.Integral):
        if int(label) in CLASS_LABELS:
            return int(label)
    elif isinstance(label, str):
        if label in ('skip', 'unsure'):
            return label
    elif not isinstance(label, (numbers.Number, bytes)):
        msg = (f'a label is a class 1-4 (int), "skip" or "unsure", got a '
               f'{type(label).__name__}')
        raise TypeError(msg)
    msg = f'a label is a class 1-4 (int), "skip" or "unsure", got {label!r}'
    raise ValueError(msg)


def _as_catalog(catalog):
    """``(table, path or None)`` of a table or a catalog file."""
    if isinstance(catalog, Table):
        return catalog, None
    if isinstance(catalog, (str, os.PathLike)):
        path = os.path.abspath(os.fspath(catalog))
        return read_catalog(path), path
    msg = (f'catalog must be an astropy Table or the path of a catalog file, got '
           f'{type(catalog).__name__}')
    raise TypeError(msg)


def _json_scalar(value, name):
    if isinstance(value, (np.generic,)):
        value = value.item()
    if isinstance(value, bytes):
        value = value.decode('utf-8', 'replace')
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        msg = (f'id column {name!r} holds a {type(value).__name__}; source ids '
               'must be integers or strings')
        raise TypeError(msg)
    return value


def _source_ids(table, id_column):
    """The ids of ``table`` (JSON scalars) or `None` without an id column."""
    if id_column is None or id_column not in table.colnames:
        return None
    col = table[id_column]
    if getattr(col, 'mask', None) is not None and np.any(col.mask):
        rows = np.flatnonzero(np.asarray(col.mask))[:5].tolist()
        msg = f'id column {id_column!r} is masked in rows {rows}; every source needs an id'
        raise ValueError(msg)
    ids = [_json_scalar(v, id_column) for v in np.asarray(col).tolist()]
    if len(set(ids)) != len(ids):
        msg = (f'id column {id_column!r} has repeated ids; give id_column=None to '
               'identify sources by their positions')
        raise ValueError(msg)
    return ids


def catalog_checksum(catalog, *, id_column='id'):
    """
    The checksum that ties a label journal to its catalog.

    Parameters
    ----------
    catalog : `~astropy.table.Table`
    id_column : str or None, optional
        Column of unique source ids; where the catalog has none (or
        `None` is given), the checksum is of the pixel positions.

    Returns
    -------
    checksum : str
        ``'sha256:<hex>'`` of the ids (as JSON) or of the float64
        positions; the same for a catalog and for its ECSV or VOTable
        copy written by `starcnet.io.write_catalog`, whatever columns
        are added (class, probability, ``human_*`` columns).
    of : {'id', 'positions'}
        What was summed.

    Examples
    --------
    >>> from astropy.table import Table
    >>> from starcnet.review import catalog_checksum
    >>> catalog_checksum(Table({'id': [1, 2, 3]}))[1]
    'id'
    """
    ids = _source_ids(catalog, id_column)
    digest = hashlib.sha256()
    if ids is not None:
        digest.update(b'id\n')
        digest.update(json.dumps(ids, ensure_ascii=True).encode())
        of = 'id'
    else:
        x, y = table_positions(catalog, 'the catalog of the journal')
        digest.update(b'positions\n')
        digest.update(np.ascontiguousarray(np.column_stack([x, y]), '<f8').tobytes())
        of = 'positions'
    return f'sha256:{digest.hexdigest()}', of


def _catalog_header(table, path, id_column):
    checksum, of = catalog_checksum(table, id_column=id_column)
    return {'path': path, 'n_rows': len(table), 'checksum': checksum,
            'checksum_of': of, 'id_column': id_column if of == 'id' else None}


def _check_header(header, path):
    what = f'label journal {path!r}'
    if not isinstance(header, dict) or header.get(_HEADER_KEY) is None:
        msg = (f'{path!r} is not a starcnet label journal: its first line is not '
               'a journal header')
        raise JournalError(msg)
    if header[_HEADER_KEY] != JOURNAL_VERSION:
        msg = (f'{what} has format version {header[_HEADER_KEY]!r}; this starcnet '
               f'reads version {JOURNAL_VERSION}: upgrade starcnet')
        raise JournalError(msg)
    catalog = header.get('catalog')
    ok = (isinstance(header.get('reviewer'), str) and isinstance(catalog, dict)
          and isinstance(catalog.get('n_rows'), int) and catalog['n_rows'] >= 0
          and isinstance(catalog.get('checksum'), str))
    if not ok:
        msg = f'{what} has a malformed header (reviewer or catalog missing): {header!r}'
        raise JournalError(msg)
    return header


def _check_record(record, header):
    """The checked label ``record`` (a dict) or a reason it is not one."""
    if not isinstance(record, dict):
        return 'not a JSON object'
    row = record.get('row')
    if isinstance(row, bool) or not isinstance(row, int):
        return f'row {row!r} is not an integer'
    if not 0 <= row < header['catalog']['n_rows']:
        return f'row {row} is outside the catalog (0 to {header["catalog"]["n_rows"] - 1})'
    try:
        check_label(record.get('label'))
    except (TypeError, ValueError) as exc:
        return str(exc)
    if record.get('reviewer') != header['reviewer']:
        return f'reviewer {record.get("reviewer")!r} is not the journal\'s {header["reviewer"]!r}'
    if not isinstance(record.get('time'), str):
        return 'no time'
    return None


def _parse(data, path):
    """
    ``(header, records, good_length, torn)`` of a journal's bytes.

    ``good_length`` is the length of the part to keep: everything but a
    torn last line.  ``torn`` is the torn line (bytes) or `None`.
    """
    lines = data.split(b'\n')
    last = lines.pop()          # b'' when the data end with a newline
    if not lines:
        msg = f'{path!r} is not a starcnet label journal: it has no header line'
        raise JournalError(msg)
    try:
        header = json.loads(lines[0])
    except ValueError:
        header = None
    header = _check_header(header, path)
    records = []
    for number, line in enumerate(lines[1:], start=2):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except ValueError as exc:
            problem = f'not JSON ({exc})'
        else:
            problem = _check_record(record, header)
        if problem:
            msg = (f'label journal {path!r}, line {number}: {problem}; the journal '
                   'is damaged (only its last line can be torn by a crash): repair '
                   'or remove that line')
            raise JournalError(msg)
        records.append(record)
    good = len(data) - len(last)
    torn = None
    if last.strip(b'\x00 \t\r'):
        try:
            record = json.loads(last)
        except ValueError:
            record = None
        if record is not None and _check_record(record, header) is None:
            records.append(record)       # complete but for its newline
            good = len(data)
        else:
            torn = last
    return header, records, good, torn


def _warn_torn(path, torn, action):
    shown = torn[:60].decode('utf-8', 'replace')
    warnings.warn(f'label journal {path!r}: the last line is torn (a crash while it '
                  f'was written) and is {action}: {shown!r}; that label had not '
                  'been acknowledged', TornLineWarning, stacklevel=3)


def _read(path):
    path = os.fspath(path)
    with open(path, 'rb') as fh:
        data = fh.read()
    header, records, _, torn = _parse(data, path)
    if torn is not None:
        _warn_torn(path, torn, 'ignored')
    return header, records


def _fsync_directory(path):
    if os.name == 'nt':         # pragma: no cover
        return
    fd = os.open(os.path.dirname(os.path.abspath(path)) or '.', os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_all(fd, data):
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


def _current(records):
    current = {}
    for record in records:
        current[record['row']] = record
    return current


class LabelJournal:
    """
    The append-only journal of one reviewer's labels of one catalog.

    Opening a journal that does not exist creates it, with a header that
    records the catalog (its path, number of rows and
    `catalog_checksum`) and the reviewer.  Opening an existing one
    resumes it: its labels are read back (a torn last line, from a
    crash, is cut off with a `TornLineWarning`), and it must belong to
    the same catalog and reviewer.  While open, the journal is locked
    against other writers (on POSIX systems); close it, or use it as a
    context manager.

    Parameters
    ----------
    path : path-like
        The journal file (JSON Lines), one per reviewer, e.g.
        ``'ngc628.ana.labels.jsonl'``.
    reviewer : str
        The reviewer's name, recorded in the header and in every label.
    catalog : `~astropy.table.Table` or path-like
        The catalog labelled (a table, or a file read with
        `starcnet.io.read_catalog`).  Sources are its rows, numbered
        from 0.
    id_column : str or None, optional
        Column of unique source ids, recorded with each label and
        checked in the header checksum; a catalog without it is checked
        by its positions.

    Raises
    ------
    CatalogMismatchError
        If the journal belongs to another catalog (another number of
        rows or checksum).
    JournalError
        If the file is not a journal, is damaged before its last line,
        belongs to another reviewer, or is open in another process.

    Examples
    --------
    >>> import os, tempfile
    >>> from astropy.table import Table
    >>> from starcnet.review import LabelJournal
    >>> catalog = Table({'id': [11, 12, 13], 'x': [5.0, 9.0, 20.0], 'y': [7.0, 3.0, 8.0]})
    >>> folder = tempfile.TemporaryDirectory()
    >>> path = os.path.join(folder.name, 'ana.labels.jsonl')
    >>> with LabelJournal(path, 'ana', catalog) as journal:
    ...     _ = journal.append(0, 1)
    ...     _ = journal.append(1, 'unsure', note='blended')
    ...     _ = journal.append(0, 2)             # supersedes the first label
    >>> journal = LabelJournal(path, 'ana', catalog)       # reopened: resumes
    >>> journal.current()
    {0: 2, 1: 'unsure'}
    >>> journal.next_unlabelled()
    2
    >>> journal.close()
    >>> folder.cleanup()
    """

    def __init__(self, path, reviewer, catalog, *, id_column='id'):
        self._path = os.path.abspath(os.fspath(path))
        self._reviewer = _check_reviewer(reviewer)
        table, catalog_path = _as_catalog(catalog)
        self._ids = _source_ids(table, id_column)
        self._catalog = _catalog_header(table, catalog_path, id_column)
        self._fd = None
        if not os.path.exists(self._path):
            self._create()
        self._open()

    # -- opening ---------------------------------------------------------
    def _create(self):
        header = {_HEADER_KEY: JOURNAL_VERSION, 'reviewer': self._reviewer,
                  'catalog': self._catalog, 'created': _utc_now()}
        line = json.dumps(header, ensure_ascii=False).encode() + b'\n'

        def write(tmp):
            with open(tmp, 'wb') as fh:
                fh.write(line)
                fh.flush()
                os.fsync(fh.fileno())
        try:
            atomic_write(self._path, write, suffix='.jsonl')
        except FileExistsError:
            return              # created by another process meanwhile: open it
        _fsync_directory(self._path)

    def _open(self):
        fd = os.open(self._path, os.O_RDWR | os.O_APPEND)
        try:
            if fcntl is not None:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    msg = (f'label journal {self._path!r} is open in another process '
                           'or object; close it there first (one writer per journal)')
                    raise JournalError(msg) from None
                except OSError as exc:
                    # a file system without locks (some network shares):
                    # the journal works, unguarded against a second writer
                    if exc.errno not in _NO_LOCKS:
                        raise
            data = b''
            while chunk := os.read(fd, 1 << 20):
                data += chunk
            header, records, good, torn = _parse(data, self._path)
            self._check_owner(header)
            if torn is not None:
                _warn_torn(self._path, torn, 'cut off')
                os.ftruncate(fd, good)
                os.fsync(fd)
            elif data and not data.endswith(b'\n'):
                _write_all(fd, b'\n')        # complete a record's missing newline
                os.fsync(fd)
        except BaseException:
            os.close(fd)
            raise
        self._fd = fd
        self._header = header
        self._records = records
        self._by_row = _current(records)

    def _check_owner(self, header):
        if header['reviewer'] != self._reviewer:
            msg = (f'label journal {self._path!r} is reviewer {header["reviewer"]!r}\'s, '
                   f'not {self._reviewer!r}\'s: each reviewer labels into a journal '
                   'file of their own')
            raise JournalError(msg)
        theirs, ours = header['catalog'], self._catalog
        if theirs['n_rows'] != ours['n_rows'] or theirs['checksum'] != ours['checksum']:
            named = ours['path'] or 'the catalog given'
            msg = (f'label journal {self._path!r} belongs to another catalog: it was '
                   f'made for {theirs.get("path") or "a catalog"!r} '
                   f'({theirs["n_rows"]} rows, {theirs["checksum"]}), not '
                   f'{named!r} ({ours["n_rows"]} rows, {ours["checksum"]}); open it with '
                   'its own catalog, or label this catalog into a new journal')
            raise CatalogMismatchError(msg)

    # -- state -----------------------------------------------------------
    @property
    def path(self):
        """The journal file (absolute path)."""
        return self._path

    @property
    def reviewer(self):
        """The reviewer whose labels the journal holds."""
        return self._reviewer

    @property
    def header(self):
        """The header (a copy): format version, reviewer, catalog, creation time."""
        return json.loads(json.dumps(self._header))

    @property
    def n_rows(self):
        """Number of rows (sources) of the catalog."""
        return self._catalog['n_rows']

    @property
    def closed(self):
        """Whether the journal is closed."""
        return self._fd is None

    def records(self):
        """
        Every label, oldest first, as dicts with keys ``row``, ``id``
        (where the catalog has ids), ``label``, ``reviewer``, ``time``
        (UTC, ISO 8601) and ``note`` (where given).
        """
        return [dict(r) for r in self._records]

    def current(self):
        """
        ``{row: label}``: the last label of each labelled source.
        """
        return {row: r['label'] for row, r in sorted(self._by_row.items())}

    def current_records(self):
        """``{row: record}``: the last label record of each labelled source."""
        return {row: dict(r) for row, r in sorted(self._by_row.items())}

    def _order(self, order):
        n = self.n_rows
        if order is None:
            return np.arange(n)
        order = np.asarray(order)
        if order.ndim == 1 and order.size == 0:
            return np.zeros(0, dtype=np.int64)
        if order.ndim != 1 or not np.issubdtype(order.dtype, np.integer):
            msg = 'order must be a sequence of row numbers (integers)'
            raise TypeError(msg)
        if order.min() < 0 or order.max() >= n:
            msg = f'order holds rows outside the catalog (0 to {n - 1})'
            raise ValueError(msg)
        return order

    def unlabelled(self, order=None):
        """
        The rows without a label, in ``order``.

        Parameters
        ----------
        order : sequence of int, optional
            Rows in the order of review (e.g. by priority); by default
            the catalog's order.  Rows it leaves out are not returned.

        Returns
        -------
        rows : `~numpy.ndarray` of int
            A source labelled ``'skip'`` or ``'unsure'`` counts as
            labelled: it was looked at.
        """
        order = self._order(order)
        done = np.zeros(self.n_rows, dtype=bool)
        done[list(self._by_row)] = True
        return order[~done[order]]

    def next_unlabelled(self, order=None):
        """
        The first row of `unlabelled` (where to resume), or `None` when
        every row of ``order`` is labelled.
        """
        rows = self.unlabelled(order)
        return int(rows[0]) if rows.size else None

    def __len__(self):
        return len(self._records)

    def __repr__(self):
        state = 'closed' if self.closed else f'{len(self._by_row)} of {self.n_rows} labelled'
        return (f'<LabelJournal {self._path!r} reviewer={self._reviewer!r} '
                f'({state})>')

    # -- writing ---------------------------------------------------------
    def append(self, row, label, *, note=None):
        """
        Record a label, on disk before returning.

        Parameters
        ----------
        row : int
            The source: its row in the catalog, from 0.
        label : {1, 2, 3, 4, 'skip', 'unsure'}
        note : str, optional
            A free-text note.

        Returns
        -------
        record : dict
            The record written.
        """
        if self._fd is None:
            msg = f'label journal {self._path!r} is closed'
            raise ValueError(msg)
        if isinstance(row, (bool, np.bool_)) or not isinstance(row, numbers.Integral):
            msg = f'row must be an integer row number, got {type(row).__name__}'
            raise TypeError(msg)
        row = int(row)
        if not 0 <= row < self.n_rows:
            msg = f'row {row} is outside the catalog (0 to {self.n_rows - 1})'
            raise ValueError(msg)
        record = {'row': row}
        if self._ids is not None:
            record['id'] = self._ids[row]
        record['label'] = check_label(label)
        record['reviewer'] = self._reviewer
        record['time'] = _utc_now()
        if note is not None:
            if not isinstance(note, str):
                msg = f'note must be a str, got {type(note).__name__}'
                raise TypeError(msg)
            record['note'] = note
        line = json.dumps(record, ensure_ascii=False).encode() + b'\n'
        _write_all(self._fd, line)
        os.fsync(self._fd)
        self._records.append(record)
        self._by_row[row] = record
        return dict(record)

    def close(self):
        """Release the journal (its labels are on disk already)."""
        if self._fd is not None:
            fd, self._fd = self._fd, None
            os.close(fd)        # also releases the lock

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __del__(self):
        fd = getattr(self, '_fd', None)
        if fd is not None:
            os.close(fd)


def read_journal(path):
    """
    Read a label journal without opening it for writing.

    A torn last line (a crash while it was written) is ignored with a
    `TornLineWarning`; the file is not changed, so a journal in use can
    be read.

    Parameters
    ----------
    path : path-like

    Returns
    -------
    labels : `~astropy.table.Table`
        One row per label, oldest first: ``row``, ``id`` (where the
        catalog has ids), ``label`` (str: ``'1'`` to ``'4'``, ``'skip'``,
        ``'unsure'``), ``reviewer``, ``time`` and ``note`` (masked where
        none); the header in ``meta['journal']``.

    Raises
    ------
    JournalError
        If the file is not a journal, or is damaged before its last line.
    """
    header, records = _read(path)
    table = Table()
    table['row'] = np.array([r['row'] for r in records], dtype=np.int64)
    if any('id' in r for r in records) or header['catalog'].get('id_column'):
        ids = [r.get('id') for r in records]
        table['id'] = ids if ids else np.array([], dtype=np.int64)
    table['label'] = np.array([str(r['label']) for r in records], dtype=str)
    table['reviewer'] = np.array([r['reviewer'] for r in records], dtype=str)
    table['time'] = np.array([r['time'] for r in records], dtype=str)
    notes = [r.get('note') for r in records]
    table['note'] = MaskedColumn([n or '' for n in notes], dtype=str,
                                 mask=[n is None for n in notes])
    table.meta['journal'] = header
    return table
