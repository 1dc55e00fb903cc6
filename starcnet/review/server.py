# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""
The review web page: a local server that shows each candidate's cutouts
and the model's verdict, and writes every label a reviewer gives with the
keyboard to their journal and to a labelled catalog.

The server is Flask (an optional dependency: ``pip install
starcnet[review]``) on Werkzeug's threaded WSGI server, bound to
127.0.0.1 only, with a random token that every request must carry.
"""

import functools
import json
import logging
import math
import os
import re
import secrets
import threading
from collections import OrderedDict

import numpy as np

from ..cutouts import CutoutFlag, image_cutouts, table_positions
from ..legus import BAND_EQUIVALENTS, BANDS
from ..io import read_catalog, write_catalog
from ._png import encode_png
from ._render import PERCENTILES, STRETCHES, grey_image, rgb_image
from .journal import LABELS, LabelJournal, _as_catalog, _check_reviewer
from .labels import labelled_catalog
from .queues import QUEUES, queue_description, review_order

__all__ = ['ReviewServer', 'serve_review', 'default_paths', 'ZOOMS', 'FIELD_SIZES',
           'BLUE_BANDS']

log = logging.getLogger('starcnet')

#: Cutout sides (pixels) the page's zoom steps through; 32 is what the
#: network sees.
ZOOMS = (16, 24, 32, 48, 64, 96)
#: Sides (pixels) of the surrounding field the page can show.
FIELD_SIZES = (128, 256)
#: Bands the colour composite can show as blue (red F814W, green F555W).
BLUE_BANDS = ('F438W', 'F336W')
_RED_GREEN = ('F814W', 'F555W')
_CACHE_SIZE = 48
_TOKEN_IN_TEXT = re.compile(r'token=[^&\s"]*')
_PAGE = os.path.join(os.path.dirname(__file__), 'page.html')


def _require_flask():
    try:
        import flask
    except ImportError:
        msg = ('the review page needs Flask, which is not installed: '
               'pip install starcnet[review]')
        raise ImportError(msg) from None
    return flask


def _slug(reviewer):
    slug = re.sub(r'[^A-Za-z0-9._-]+', '_', reviewer).strip('._')
    if not slug:
        msg = (f'reviewer {reviewer!r} gives no usable file name; give --journal and '
               '--labels-out, or a name with letters or digits')
        raise ValueError(msg)
    return slug


def default_paths(catalog_path, reviewer):
    """
    The default journal and labelled catalog of a reviewer.

    Parameters
    ----------
    catalog_path : path-like
        The catalog reviewed, e.g. ``ngc628.ecsv``.
    reviewer : str

    Returns
    -------
    journal, labels : str
        ``<catalog stem>.<reviewer>.labels.jsonl`` and
        ``<catalog stem>.<reviewer>.labels.ecsv`` next to the catalog
        (characters other than letters, digits, ``.``, ``_`` and ``-``
        of the name are replaced by ``_``).

    Examples
    --------
    >>> from starcnet.review import default_paths
    >>> [p.replace('\\\\', '/') for p in default_paths('data/ngc628.ecsv', 'ana')]
    ['data/ngc628.ana.labels.jsonl', 'data/ngc628.ana.labels.ecsv']
    """
    stem = os.path.splitext(os.fspath(catalog_path))[0]
    slug = _slug(_check_reviewer(reviewer))
    return f'{stem}.{slug}.labels.jsonl', f'{stem}.{slug}.labels.ecsv'


def _same_file(a, b):
    if os.path.realpath(a) == os.path.realpath(b):
        return True
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


def _cell(catalog, name, row):
    """One number of a column: a float, or None where masked or not finite."""
    value = np.ma.asarray(catalog[name][row:row + 1]).astype(float)
    return _number(float(np.ma.filled(value, np.nan)[0]))


def _number(value):
    return None if value is None or not math.isfinite(value) else float(value)


def _json_value(value):
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, bytes):
        value = value.decode('utf-8', 'replace')
    if isinstance(value, float):
        return _number(value)
    if isinstance(value, (int, str, bool)) or value is None:
        return value
    return str(value)


def _band_map(image):
    """Model band -> image band, refusing bands the page cannot show."""
    known = set(BANDS) | {b for alts in BAND_EQUIVALENTS.values() for b in alts}
    unknown = [b for b in image.bands if b not in known]
    if unknown:
        msg = (f'unknown band(s) {", ".join(unknown)}: the review page shows '
               f'{", ".join(BANDS)} (F435W may stand in for F438W, F606W for F555W)')
        raise ValueError(msg)
    return image.match_bands(BANDS)


def _check_inside(catalog, x, y, shape):
    ny, nx = shape
    outside = (x < -0.5) | (x > nx - 0.5) | (y < -0.5) | (y > ny - 0.5)
    if 'starcnet_flags' in catalog.colnames:
        flags = np.ma.getdata(np.ma.asarray(catalog['starcnet_flags'])).astype(np.int64)
        outside &= (flags & CutoutFlag.OUTSIDE) == 0
    if outside.any():
        rows = np.flatnonzero(outside)
        first = int(rows[0])
        msg = (f'{rows.size} of {len(catalog)} catalog sources lie outside the '
               f'{nx}x{ny} band images (e.g. row {first} at x={x[first]:.1f}, '
               f'y={y[first]:.1f}) and are not flagged OUTSIDE: are these the '
               'images the catalog was made from?')
        raise ValueError(msg)


class ReviewServer:
    """
    The review web page of one reviewer over one catalog.

    Everything is checked, the journal opened (resumed if it exists) and
    the labelled catalog written from it before the server accepts a
    request; the port is bound at construction, so `url` is known at
    once.  Serve with `serve_forever` (blocking) or `start` (a
    background thread), and `stop` it.

    Parameters
    ----------
    catalog : path-like or `~astropy.table.Table`
        The catalog to review (never written): pixel positions
        (``x_centroid``/``y_centroid``, ``xcentroid``/``ycentroid`` or
        ``x``/``y``) and, when classified, ``cluster_class``,
        ``prob_class1..4``, ``starcnet_flags`` and the uncertainty
        columns, all shown.
    image : `~starcnet.MultiBandImage` or dict
        The five band images (or a dict of band to FITS file).
    reviewer : str
        The reviewer's name, recorded with every label.
    journal : path-like, optional
        The reviewer's label journal (`~starcnet.review.LabelJournal`);
        default ``<catalog stem>.<reviewer>.labels.jsonl`` next to the
        catalog (see `default_paths`); required for a table.
    labels_out : path-like, optional
        The labelled catalog (`~starcnet.review.write_labels`), rewritten
        after every label; default ``<catalog stem>.<reviewer>.labels.ecsv``.
        An existing file is replaced only if it is this reviewer's
        labelled catalog of the same catalog.
    port : int, optional
        TCP port on 127.0.0.1; 0 (default) takes a free one.
    queue : str, optional
        The queue the page opens (`~starcnet.review.queues.QUEUES`).
    seed : int, optional
        Seed of the ``'random'`` queue (the same order across restarts).
    token : str, optional
        The access token; default a new `secrets.token_urlsafe` (32 bytes).

    Raises
    ------
    ImportError
        If Flask is not installed.
    ValueError
        If the catalog has no positions or its sources lie outside the
        images, a band is unknown or missing, the queue is unknown, or an
        output would replace an input.
    starcnet.review.JournalError
        If the journal is another reviewer's or another catalog's.
    FileExistsError
        If ``labels_out`` exists and is not this reviewer's labels of
        this catalog.
    """

    def __init__(self, catalog, image, *, reviewer, journal=None, labels_out=None,
                 port=0, queue='priority', seed=0, token=None):
        flask = _require_flask()
        from ..images import MultiBandImage

        self.reviewer = _check_reviewer(reviewer)
        table, catalog_path = _as_catalog(catalog)
        if catalog_path is None and (journal is None or labels_out is None):
            msg = 'a catalog given as a table needs journal= and labels_out= paths'
            raise ValueError(msg)
        if catalog_path is not None:
            default_journal, default_labels = default_paths(catalog_path, reviewer)
            journal = default_journal if journal is None else journal
            labels_out = default_labels if labels_out is None else labels_out
        self.catalog = table
        self.catalog_path = catalog_path
        self.journal_path = os.path.abspath(os.fspath(journal))
        self.labels_path = os.path.abspath(os.fspath(labels_out))
        if queue not in QUEUES:
            msg = f'unknown review queue {queue!r}; choose one of {", ".join(QUEUES)}'
            raise ValueError(msg)
        self.default_queue = queue
        self.seed = int(seed)
        self._x, self._y = table_positions(table, 'catalog')
        if not isinstance(image, MultiBandImage):
            image = (MultiBandImage.read(image) if all(
                isinstance(v, (str, os.PathLike)) for v in dict(image).values())
                else MultiBandImage(image))
        self.image = image
        self.bands = _band_map(image)
        _check_inside(table, self._x, self._y, image.shape)
        self._check_paths()
        review_order(table, queue, seed=self.seed)      # the queue can be made
        self._queues = {}
        self._lock = threading.RLock()
        self._cache = OrderedDict()
        self._journal = LabelJournal(self.journal_path, self.reviewer,
                                     catalog_path if catalog_path else table)
        try:
            self._write_labels()            # labels of an earlier session, after a crash
            self.token = token or secrets.token_urlsafe(32)
            self._app = self._make_app(flask)
            self._server = self._make_server(port)
        except BaseException:
            self._journal.close()
            raise
        self.port = self._server.server_port
        self._dirty = threading.Event()
        self._closing = False
        self._writer = threading.Thread(target=self._write_loop, name='starcnet-review-writer',
                                        daemon=True)
        self._writer.start()
        self._thread = None

    # -- checks -------------------------------------------------------------
    def _check_paths(self):
        inputs = [('the catalog', self.catalog_path)]
        inputs += [(f'band {b}', nd.meta.get('path')) for b, nd in self.image.items()]
        outputs = [('the journal', self.journal_path), ('the labels', self.labels_path)]
        if _same_file(self.journal_path, self.labels_path):
            msg = f'the journal and the labels catalog are one file ({self.labels_path})'
            raise ValueError(msg)
        for name, path in outputs:
            for other, other_path in inputs:
                if other_path and _same_file(path, other_path):
                    msg = (f'{name} file {path} is {other}: the input is never '
                           'overwritten; choose another file')
                    raise ValueError(msg)
        if os.path.exists(self.labels_path):
            try:
                meta = read_catalog(self.labels_path).meta.get('starcnet_review', {})
            except Exception:           # noqa: BLE001 (any unreadable file is refused)
                meta = {}
            from .journal import catalog_checksum
            id_column = meta.get('id_column')
            ours = (meta.get('reviewer') == self.reviewer and meta.get('catalog_checksum')
                    == catalog_checksum(self.catalog, id_column=id_column)[0])
            if not ours:
                msg = (f'{self.labels_path} exists and is not the labelled catalog of '
                       f'reviewer {self.reviewer!r} for this catalog; remove it or '
                       'choose another labels file')
                raise FileExistsError(msg)

    # -- labels -------------------------------------------------------------
    def _write_labels(self):
        with self._lock:
            table = labelled_catalog(self.catalog, self._journal)
        write_catalog(table, self.labels_path, overwrite=True)

    def _write_loop(self):
        while True:
            self._dirty.wait()
            if self._closing and not self._dirty.is_set():
                return
            self._dirty.clear()
            try:
                self._write_labels()
            except Exception:           # noqa: BLE001 (the journal holds the labels)
                log.exception('could not write %s (the labels are safe in %s)',
                              self.labels_path, self.journal_path)
            if self._closing and not self._dirty.is_set():
                return

    def label(self, row, label, *, note=None):
        """
        Record a label as the page does: in the journal (on disk when
        this returns), then in the labelled catalog (rewritten in the
        background; `flush` waits for it).

        Parameters
        ----------
        row : int
            The source's catalog row, from 0.
        label : {1, 2, 3, 4, 'skip', 'unsure'}
        note : str, optional

        Returns
        -------
        record : dict
            The journal record.
        """
        with self._lock:
            record = self._journal.append(row, label, note=note or None)
        self._dirty.set()
        return record

    def flush(self):
        """Write the labelled catalog now, with every label so far."""
        self._write_labels()

    def labels(self):
        """``{row: label}``: the current label of every labelled source."""
        with self._lock:
            return self._journal.current()

    # -- serving ------------------------------------------------------------
    @property
    def url(self):
        """The page's address, with the token."""
        return f'http://127.0.0.1:{self.port}/?token={self.token}'

    def serve_forever(self):
        """Serve until `stop` (from another thread) or Ctrl-C; then stop."""
        try:
            self._server.serve_forever()
        finally:
            self.stop()

    def start(self):
        """Serve in a background thread; returns at once."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._server.serve_forever,
                                            name='starcnet-review', daemon=True)
            self._thread.start()
        return self

    def stop(self):
        """Stop serving, write the labelled catalog and close the journal."""
        if self._journal.closed:
            return
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join()
        self._server.server_close()
        self._closing = True
        self._dirty.set()
        self._writer.join()
        try:
            self._write_labels()
        finally:
            self._journal.close()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    def __repr__(self):
        return (f'<ReviewServer http://127.0.0.1:{self.port}/ reviewer={self.reviewer!r} '
                f'{len(self.catalog)} sources>')

    def _make_server(self, port):
        from werkzeug.serving import WSGIRequestHandler, make_server

        class Handler(WSGIRequestHandler):
            # Werkzeug's own logging would add a handler to its logger (a
            # process-wide change) and print the token: requests go to the
            # starcnet logger at debug level, the token blanked.
            def log(self, type, message, *args):
                text = _TOKEN_IN_TEXT.sub('token=***', message % args if args else message)
                level = logging.WARNING if type == 'error' else logging.DEBUG
                log.log(level, 'review server: %s', text)

        return make_server('127.0.0.1', int(port), self._app, threaded=True,
                           request_handler=Handler)

    # -- data for the page ------------------------------------------------
    def _order(self, name):
        if name not in QUEUES:
            msg = f'unknown queue {name!r}'
            raise KeyError(msg)
        if name not in self._queues:
            self._queues[name] = review_order(self.catalog, name, seed=self.seed)
        return self._queues[name]

    def queue_state(self, name):
        """The queue ``name`` for the page: rows, labels, where to resume."""
        order = self._order(name)
        with self._lock:
            labels = {str(k): str(v) for k, v in self._journal.current().items()}
            nxt = self._journal.next_unlabelled(order)
        start = 0 if nxt is None else int(np.flatnonzero(order == nxt)[0])
        return {'name': name, 'rows': order.tolist(), 'labels': labels, 'start': start,
                'complete': nxt is None,
                'description': queue_description(self.catalog, name)}

    def source(self, row):
        """Everything the page shows of one source (a JSON-ready dict)."""
        cat = self.catalog
        if not 0 <= row < len(cat):
            msg = f'row {row} is outside the catalog'
            raise KeyError(msg)
        names = cat.colnames
        x, y = float(self._x[row]), float(self._y[row])
        out = {'row': row, 'x': x, 'y': y,
               'id': _json_value(cat['id'][row]) if 'id' in names else row}
        if 'sky_centroid' in names:
            sky = cat['sky_centroid'][row]
            try:
                icrs = sky.icrs
                out['ra'], out['dec'] = float(icrs.ra.deg), float(icrs.dec.deg)
                out['sky'] = icrs.to_string('hmsdms', precision=2)
            except AttributeError:
                pass
        model = None
        if 'cluster_class' in names:
            value = cat['cluster_class'][row]
            cls = None if np.ma.is_masked(value) else int(value)
            model = {'class': cls, 'probs': None, 'prob_std': None}
            if 'cluster_class_name' in names and cls is not None:
                model['name'] = _json_value(cat['cluster_class_name'][row])
            probs = [f'prob_class{k}' for k in range(1, 5)]
            if all(p in names for p in probs):
                model['probs'] = [_cell(cat, p, row) for p in probs]
            stds = [f'prob_std_class{k}' for k in range(1, 5)]
            if all(p in names for p in stds):
                model['prob_std'] = [_cell(cat, p, row) for p in stds]
            if 'starcnet' in cat.meta:
                model['model'] = cat.meta['starcnet'].get('model')
        out['model'] = model
        extra = {}
        for name in ('review_priority', 'class_quality', 'entropy', 'mutual_information',
                     'ood_score'):
            if name in names:
                extra[name] = _cell(cat, name, row)
        out['scores'] = extra
        if 'starcnet_flags' in names:
            flags = int(np.ma.filled(np.ma.asarray(cat['starcnet_flags'][row:row + 1]), 0)[0])
            out['flags'] = {'value': flags,
                            'names': [f.name for f in CutoutFlag if flags & f.value]}
        with self._lock:
            record = self._journal.current_records().get(row)
        out['human'] = (None if record is None else
                        {'label': str(record['label']), 'note': record.get('note'),
                         'time': record['time']})
        near = ((np.abs(self._x - x) < max(FIELD_SIZES) / 2 + 1)
                & (np.abs(self._y - y) < max(FIELD_SIZES) / 2 + 1))
        classes = (np.ma.filled(np.ma.asarray(cat['cluster_class']), 0).astype(int)
                   if 'cluster_class' in names else np.zeros(len(cat), int))
        out['neighbours'] = [{'row': int(k), 'x': float(self._x[k]), 'y': float(self._y[k]),
                              'class': int(classes[k])}
                             for k in np.flatnonzero(near) if k != row]
        return out

    def _cutouts(self, row, size):
        key = (row, size)
        with self._lock:
            if key in self._cache:
                self._cache.move_to_end(key)
                return self._cache[key]
        cut, _, _ = image_cutouts(self.image, self._x[row:row + 1], self._y[row:row + 1],
                                  bands=list(self.bands.values()), size=size,
                                  use_masks=False)
        planes = dict(zip(self.bands, cut[0]))
        with self._lock:
            self._cache[key] = planes
            while len(self._cache) > _CACHE_SIZE:
                self._cache.popitem(last=False)
        return planes

    def render(self, row, kind, *, size=32, stretch='asinh', percentile=99.5, low=None,
               high=None, blue='F438W'):
        """
        The PNG of one picture of the page.

        Parameters
        ----------
        row : int
        kind : str
            ``'rgb'`` (F814W, F555W, ``blue``), a band (``'F275W'`` ...),
            or ``'field'`` (the colour composite of ``size`` pixels).
        size : int
            Cutout side in pixels (`ZOOMS`, or `FIELD_SIZES` for the field).
        stretch, percentile, low, high
            As in `starcnet.review._render.grey_image`.
        blue : {'F438W', 'F336W'}

        Returns
        -------
        png : bytes
        """
        if not 0 <= row < len(self.catalog):
            msg = f'row {row} is outside the catalog'
            raise KeyError(msg)
        allowed = FIELD_SIZES if kind == 'field' else ZOOMS
        if size not in allowed:
            msg = f'size must be one of {allowed}, got {size}'
            raise ValueError(msg)
        if blue not in BLUE_BANDS:
            msg = f'blue must be one of {BLUE_BANDS}, got {blue!r}'
            raise ValueError(msg)
        planes = self._cutouts(row, size)
        scale = {'stretch': stretch, 'percentile': percentile, 'low': low, 'high': high}
        if kind in ('rgb', 'field'):
            pixels, _ = rgb_image(*(planes[b] for b in (*_RED_GREEN, blue)), **scale)
        elif kind in planes:
            pixels, _ = grey_image(planes[kind], **scale)
        else:
            msg = f'unknown picture {kind!r}'
            raise KeyError(msg)
        return encode_png(pixels)

    def page_config(self):
        """What the page is told at load (JSON-ready)."""
        return {
            'reviewer': self.reviewer,
            'catalog': os.path.basename(self.catalog_path) if self.catalog_path else 'table',
            'n_sources': len(self.catalog),
            'bands': [{'band': b, 'image_band': used} for b, used in self.bands.items()],
            'queues': list(QUEUES), 'queue': self.default_queue,
            'stretches': list(STRETCHES), 'percentiles': list(PERCENTILES),
            'zooms': list(ZOOMS), 'field_sizes': list(FIELD_SIZES),
            'blue_bands': list(BLUE_BANDS), 'labels': [str(v) for v in LABELS],
            'journal': self.journal_path, 'labels_out': self.labels_path,
            'model': (self.catalog.meta.get('starcnet', {}) or {}).get('model'),
            'class_names': (self.catalog.meta.get('starcnet', {}) or {}).get(
                'class_names', ['symmetric cluster', 'asymmetric cluster',
                                'association', 'non-cluster']),
        }

    # -- the web application ------------------------------------------------
    def _make_app(self, flask):
        from werkzeug.exceptions import HTTPException

        app = flask.Flask(__name__)
        server = self

        def args_number(name, default=None, kind=float):
            value = flask.request.args.get(name, '')
            if value == '':
                return default
            try:
                return kind(value)
            except ValueError:
                flask.abort(400, f'{name} must be a number, got {value!r}')

        @app.before_request
        def check_token():
            given = (flask.request.args.get('token')
                     or flask.request.headers.get('X-Review-Token') or '')
            if not secrets.compare_digest(given.encode(), server.token.encode()):
                return flask.Response(
                    'forbidden: this starcnet review session needs its token; open the '
                    'address starcnet review printed\n', status=403, mimetype='text/plain')
            return None

        @app.after_request
        def headers(response):
            response.headers['Cache-Control'] = 'no-store'
            response.headers['Referrer-Policy'] = 'no-referrer'
            response.headers['X-Content-Type-Options'] = 'nosniff'
            response.headers['X-Frame-Options'] = 'DENY'
            response.headers['Content-Security-Policy'] = (
                "default-src 'none'; img-src 'self' data:; connect-src 'self'; "
                "style-src 'unsafe-inline'; script-src 'unsafe-inline'; "
                "base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
            return response

        @app.errorhandler(Exception)
        def error(exc):
            if isinstance(exc, HTTPException):
                return flask.Response(f'{exc.code} {exc.name}: {exc.description}\n',
                                      status=exc.code, mimetype='text/plain')
            if isinstance(exc, (KeyError, ValueError, TypeError)):
                text = exc.args[0] if exc.args else str(exc)
                return flask.Response(f'{text}\n', status=400, mimetype='text/plain')
            log.exception('review server: error')
            return flask.Response('internal error (see the server log)\n', status=500,
                                  mimetype='text/plain')

        @app.get('/')
        def page():
            html = _page_html()
            config = json.dumps({**server.page_config(), 'token': server.token})
            # keep "</" out of the inline script
            html = html.replace('/*CONFIG*/null', config.replace('</', '<\\/'))
            return flask.Response(html, mimetype='text/html')

        @app.get('/api/queue/<name>')
        def queue(name):
            return flask.jsonify(server.queue_state(name))

        @app.get('/api/source/<int:row>')
        def source(row):
            return flask.jsonify(server.source(row))

        @app.get('/img/<int:row>/<kind>.png')
        def picture(row, kind):
            png = server.render(
                row, kind, size=args_number('size', 32, int),
                stretch=flask.request.args.get('stretch', 'asinh'),
                percentile=args_number('percentile', 99.5),
                low=args_number('low'), high=args_number('high'),
                blue=flask.request.args.get('blue', 'F438W'))
            return flask.Response(png, mimetype='image/png')

        @app.post('/api/label')
        def label():
            data = flask.request.get_json(silent=True)
            if not isinstance(data, dict):
                flask.abort(400, 'send a JSON object {"row": ..., "label": ...}')
            value = data.get('label')
            if isinstance(value, str) and value in ('1', '2', '3', '4'):
                value = int(value)
            record = server.label(data.get('row'), value, note=data.get('note'))
            return flask.jsonify({'record': record, 'n_labelled': len(server.labels())})

        return app


@functools.lru_cache(maxsize=1)
def _page_html_cached(mtime):
    with open(_PAGE, encoding='utf-8') as fh:
        return fh.read()


def _page_html():
    return _page_html_cached(os.path.getmtime(_PAGE))


def serve_review(catalog, image, *, reviewer, open_browser=False, **kwargs):
    """
    Serve the review page until Ctrl-C, printing its address.

    Parameters
    ----------
    catalog, image, reviewer, **kwargs
        As for `ReviewServer`.
    open_browser : bool, optional
        Open the page in the default web browser.

    Returns
    -------
    labels : dict
        ``{row: label}`` at the end of the session.
    """
    server = ReviewServer(catalog, image, reviewer=reviewer, **kwargs)
    print(f'review page for {reviewer}: {server.url}', flush=True)
    print(f'labels go to {server.journal_path} and {server.labels_path}; '
          'Ctrl-C to stop', flush=True)
    if open_browser:
        import webbrowser
        webbrowser.open(server.url)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
    return server.labels()
