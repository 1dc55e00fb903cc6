# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""
Classify many galaxies, or the tiles of one huge mosaic, with Dask.

Every task reads its own memory-mapped bands from files that all
workers can see (a shared file system on a cluster), classifies its
sources and returns (or writes) a catalog; only file names, positions
and the resulting tables travel between the client and the workers.
Sources are classified independently of each other, so the results are
those of a serial run.

Without a scheduler address the work runs on a
`distributed.LocalCluster` on this machine; with one (``tcp://host:8786``
from ``dask scheduler``, dask-jobqueue on SLURM/PBS, dask-kubernetes,
...) it runs there.  Needs ``pip install 'starcnet[all]'`` (or
``dask[distributed]``).
"""

import collections
import contextlib
import json
import os
import threading
import uuid

import numpy as np
from astropy.table import QTable, Table, vstack

__all__ = ['CLASSIFIER_CACHE_SIZE', 'GALAXY_LIST_KEYS', 'classify_galaxies', 'classify_galaxy',
           'classify_tiles', 'dask_client', 'read_galaxy_list']

#: Keys (JSON) or columns (ECSV) of a galaxy list; every other ECSV
#: column is a band (its name, e.g. ``F555W``) holding a FITS path.
GALAXY_LIST_KEYS = ('name', 'catalog', 'bands', 'output')

#: Classifiers a worker process keeps (one per model and setting; the
#: least recently used one goes first).
CLASSIFIER_CACHE_SIZE = 4

_CACHE_LOCK = threading.Lock()
_CLASSIFIERS = collections.OrderedDict()


def _require_distributed():
    try:
        import distributed
    except ImportError:
        msg = ("starcnet.distributed needs dask's distributed scheduler: "
               "pip install 'starcnet[all]' (or 'dask[distributed]')")
        raise ImportError(msg) from None
    return distributed


def _resolve(path, root):
    path = os.path.expanduser(os.fspath(path))
    return path if os.path.isabs(path) or root is None else os.path.join(root, path)


def read_galaxy_list(path):
    """
    Read a galaxy list: for every galaxy its bands, its catalog and
    (optionally) where to write the result.

    Two formats, told by the file extension:

    * JSON (``.json``): a list of objects ``{"name": "ngc1566", "bands":
      {"F275W": "ngc1566/f275w.fits", ...}, "catalog": "ngc1566/cands.ecsv",
      "output": "ngc1566_starcnet.ecsv"}``;
    * ECSV (or any table astropy reads): one row per galaxy, columns
      ``name``, ``catalog``, optional ``output`` and one column per band
      named after it (``F275W``, ``F336W``, ...) holding the FITS path.

    Relative paths are taken relative to the directory of the list file.
    ``output`` may be left out (or empty) in both.

    Parameters
    ----------
    path : path-like
        The galaxy list.

    Returns
    -------
    galaxies : list of dict
        ``{'name', 'bands', 'catalog', 'output'}`` with absolute paths
        (``output`` may be None).
    """
    path = os.fspath(path)
    root = os.path.dirname(os.path.abspath(path))
    if path.lower().endswith('.json'):
        with open(path, encoding='utf-8') as handle:
            try:
                entries = json.load(handle)
            except json.JSONDecodeError as exc:
                msg = f'{path}: not valid JSON ({exc})'
                raise ValueError(msg) from None
        if isinstance(entries, dict) and 'galaxies' in entries:
            entries = entries['galaxies']
        if not isinstance(entries, list):
            msg = f'{path}: expected a JSON list of galaxies, got {type(entries).__name__}'
            raise ValueError(msg)
    else:
        table = Table.read(path, format='ascii.ecsv' if path.lower().endswith('.ecsv')
                           else None)
        missing = [c for c in ('name', 'catalog') if c not in table.colnames]
        if missing:
            msg = (f'{path}: a galaxy list needs the columns name, catalog and '
                   f'one per band; {", ".join(missing)} missing')
            raise ValueError(msg)
        band_columns = [c for c in table.colnames if c not in GALAXY_LIST_KEYS]
        entries = []
        for row in table:
            entry = {'name': str(row['name']), 'catalog': str(row['catalog']),
                     'bands': {band: str(row[band]) for band in band_columns}}
            if 'output' in table.colnames and not np.ma.is_masked(row['output']):
                entry['output'] = str(row['output'])
            entries.append(entry)
    return [_check_entry(entry, i, path, root) for i, entry in enumerate(entries)]


def _check_entry(entry, i, where, root=None):
    if not isinstance(entry, dict):
        msg = f'{where}: galaxy {i} is not a mapping: {entry!r}'
        raise TypeError(msg)
    unknown = set(entry) - set(GALAXY_LIST_KEYS)
    if unknown:
        msg = (f'{where}: galaxy {i} has unknown keys {sorted(unknown)}; '
               f'expected {", ".join(GALAXY_LIST_KEYS)}')
        raise ValueError(msg)
    name = str(entry.get('name') or f'galaxy{i}')
    bands = entry.get('bands')
    if not isinstance(bands, dict) or not bands:
        msg = f'{where}: galaxy {name!r} needs "bands": {{band: FITS path, ...}}'
        raise ValueError(msg)
    if not entry.get('catalog'):
        msg = f'{where}: galaxy {name!r} needs "catalog": a source table'
        raise ValueError(msg)
    output = entry.get('output') or None
    return {'name': name,
            'bands': {str(b): _resolve(p, root) for b, p in bands.items()},
            'catalog': _resolve(entry['catalog'], root),
            'output': None if output is None else _resolve(output, root)}


def _classifier(model, device, batch_size, precision, uncertainty=None, n_samples=16,
                seed=0):
    """
    A classifier of this worker process for a model and setting: built
    once, kept among the `CLASSIFIER_CACHE_SIZE` used last.
    """
    from .classifier import StarClusterClassifier

    key = (None if model is None else os.fspath(model), device, batch_size, precision,
           uncertainty, n_samples, seed)
    with _CACHE_LOCK:
        clf = _CLASSIFIERS.pop(key, None)
        if clf is None:
            clf = StarClusterClassifier(model, device=device, batch_size=batch_size,
                                        precision=precision, uncertainty=uncertainty,
                                        n_samples=n_samples, seed=seed)
        _CLASSIFIERS[key] = clf
        while len(_CLASSIFIERS) > CLASSIFIER_CACHE_SIZE:
            _CLASSIFIERS.popitem(last=False)
    return clf


def _check_uncertainty(uncertainty, n_samples, seed):
    """The classifier's checks of its uncertainty options, on the client."""
    from .classifier import check_uncertainty_options

    check_uncertainty_options(uncertainty, n_samples, seed)


@contextlib.contextmanager
def _in_worker(torch_threads, tune_malloc):
    """
    The process-wide settings a task makes, only those asked for: torch's
    thread count and the glibc settings of `starcnet.utils.large_cpu_buffers`.
    """
    from .utils import large_cpu_buffers

    if torch_threads:
        import torch

        # one torch thread team per worker thread, no more threads than
        # cores: oversubscribed OpenMP teams spin and run many times slower
        if torch.get_num_threads() != int(torch_threads):
            torch.set_num_threads(int(torch_threads))
    with large_cpu_buffers(bool(tune_malloc)):
        yield


def _owned(scheduler, processes):
    """Whether the workers are processes that `dask_client` starts."""
    return scheduler is None and processes


def _worker_options(scheduler, processes, threads_per_worker, torch_threads,
                    tune_malloc):
    """Resolve ``torch_threads`` and ``tune_malloc`` (see `classify_galaxies`)."""
    from . import conf

    owned = _owned(scheduler, processes)
    if torch_threads is None and owned:
        torch_threads = threads_per_worker
    if tune_malloc is None:
        tune_malloc = owned and bool(conf.tune_malloc)
    return torch_threads, bool(tune_malloc)


def classify_galaxy(galaxy, *, model=None, device='cpu', batch_size=None,
                    precision='float32', uncertainty=None, n_samples=16, seed=0,
                    overwrite=False, torch_threads=None, tune_malloc=False):
    """
    Classify one galaxy of a galaxy list (the task run on a worker).

    Parameters
    ----------
    galaxy : dict
        ``{'name', 'bands', 'catalog', 'output'}`` as from
        `read_galaxy_list`.
    model, device, batch_size, precision, uncertainty, n_samples, seed
        As for `~starcnet.StarClusterClassifier`.
    overwrite : bool, optional
        Replace an existing output file.
    torch_threads : int, optional
        Set torch's number of threads in this process first.
    tune_malloc : bool, optional
        Run inside `starcnet.utils.large_cpu_buffers` (changes glibc's
        allocator of this process for good; faster on a CPU).

    Returns
    -------
    result : `~astropy.table.QTable` or str
        The catalog; or, when the galaxy has an ``output``, the path
        written (the catalog stays on the worker's disk).
    """
    from .images import MultiBandImage
    from .io import read_sources, write_catalog

    galaxy = _check_entry(galaxy, 0, 'galaxy')
    with _in_worker(torch_threads, tune_malloc):
        clf = _classifier(model, device, batch_size, precision, uncertainty, n_samples,
                          seed)
        image = MultiBandImage.read(galaxy['bands'])
        catalog = clf(image, read_sources(galaxy['catalog']))
    catalog.meta['starcnet']['galaxy'] = galaxy['name']
    if galaxy['output'] is None:
        return catalog
    write_catalog(catalog, galaxy['output'], overwrite=overwrite)
    return galaxy['output']


@contextlib.contextmanager
def dask_client(scheduler=None, *, n_workers=None, threads_per_worker=1,
                processes=True):
    """
    A `distributed.Client`: to an existing scheduler, or to a new
    `distributed.LocalCluster` that is shut down on exit.

    Parameters
    ----------
    scheduler : str or `distributed.Client`, optional
        A scheduler address (``'tcp://10.0.0.1:8786'``), a scheduler
        file path (``.json``, as written by ``dask scheduler
        --scheduler-file`` or dask-mpi), or a client to use as is.
        Default: a `~distributed.LocalCluster`.
    n_workers, threads_per_worker, processes
        Of the `~distributed.LocalCluster` (ignored with a scheduler).
        Default: one single-threaded worker per core.

    Yields
    ------
    client : `distributed.Client`
    """
    distributed = _require_distributed()
    if isinstance(scheduler, distributed.Client):
        yield scheduler
        return
    if scheduler is not None:
        text = os.fspath(scheduler)
        kwargs = ({'scheduler_file': text} if text.endswith('.json') and os.path.exists(text)
                  else {'address': text})
        with distributed.Client(**kwargs) as client:
            yield client
        return
    if n_workers is None:
        n_workers = max(1, (os.cpu_count() or 1) // max(1, threads_per_worker))
    with (distributed.LocalCluster(n_workers=n_workers,
                                   threads_per_worker=threads_per_worker,
                                   processes=processes,
                                   # TCP on the loopback, also for in-process
                                   # workers: nothing listens beyond this machine
                                   protocol='tcp://', host='127.0.0.1',
                                   # the HTTP server on this machine only, no dashboard
                                   dashboard_address='127.0.0.1:0',
                                   worker_dashboard_address='127.0.0.1:0',
                                   scheduler_kwargs={'dashboard': False})
          as cluster, distributed.Client(cluster) as client):
        yield client


def classify_galaxies(galaxies, *, model=None, device='cpu', batch_size=None,
                      precision='float32', uncertainty=None, n_samples=16, seed=0,
                      overwrite=False, scheduler=None,
                      n_workers=None, threads_per_worker=1, processes=True,
                      torch_threads=None, tune_malloc=None):
    """
    Classify the candidates of many galaxies in parallel, one Dask task
    per galaxy.

    Parameters
    ----------
    galaxies : path-like or list of dict
        A galaxy list file (see `read_galaxy_list`) or its entries.
    model, device, batch_size, precision
        As for `~starcnet.StarClusterClassifier`; the model is loaded
        once per worker.  ``device='cpu'`` by default: set ``'cuda'`` on
        GPU workers.
    uncertainty, n_samples, seed : optional
        Per-source uncertainty, as for `~starcnet.StarClusterClassifier`
        (``uncertainty='mc_dropout'`` costs ``n_samples`` network passes
        more per source).  Every galaxy is classified with the same
        ``seed``: its catalog is the one a serial run with that seed
        gives (on the same device and batch size).  Checked here, before
        any task is sent.
    overwrite : bool, optional
        Replace existing output files.  Outputs that exist are checked
        before any work starts.
    scheduler, n_workers, threads_per_worker, processes
        Where to run: see `dask_client`.
    torch_threads : int, optional
        Torch threads in each worker process.  Default: for the local
        cluster of processes that starcnet starts (no ``scheduler``,
        ``processes=True``) ``threads_per_worker``, so that the workers
        together use as many threads as there are cores; otherwise
        torch's own default: the workers of your own deployment (or the
        threads of this process with ``processes=False``) are left as
        they are unless you pass it (or start them with
        ``OMP_NUM_THREADS`` set to their thread count).
    tune_malloc : bool, optional
        Run the tasks inside `starcnet.utils.large_cpu_buffers`: the
        network is about 1.3-2x faster on a CPU, but glibc's allocator
        of the worker process is changed for good.  Default: on (unless
        ``starcnet.conf.tune_malloc`` is False) for the local cluster of
        processes that starcnet starts, off otherwise; pass True for
        the workers of your own deployment if they only run starcnet.

    Returns
    -------
    results : list
        In the order of ``galaxies``: the catalog (`~astropy.table.QTable`)
        of each galaxy without an ``output``, the path written otherwise.
    """
    if isinstance(galaxies, (str, os.PathLike)):
        galaxies = read_galaxy_list(galaxies)
    else:
        galaxies = [_check_entry(g, i, 'galaxies') for i, g in enumerate(galaxies)]
    names = [g['name'] for g in galaxies]
    if len(set(names)) != len(names):
        msg = f'galaxy names must be unique: {names}'
        raise ValueError(msg)
    outputs = [g['output'] for g in galaxies if g['output']]
    if len(set(outputs)) != len(outputs):
        msg = 'two galaxies write the same output file'
        raise ValueError(msg)
    if not overwrite:
        existing = [p for p in outputs if os.path.exists(p)]
        if existing:
            msg = f'{", ".join(existing)} already exist(s); use overwrite=True'
            raise FileExistsError(msg)
    if not galaxies:
        return []
    _check_uncertainty(uncertainty, n_samples, seed)
    torch_threads, tune_malloc = _worker_options(
        scheduler, processes, threads_per_worker, torch_threads, tune_malloc)
    options = {'model': model, 'device': device, 'batch_size': batch_size,
               'precision': precision, 'uncertainty': uncertainty,
               'n_samples': int(n_samples), 'seed': int(seed), 'overwrite': overwrite,
               'torch_threads': torch_threads, 'tune_malloc': tune_malloc}
    with dask_client(scheduler, n_workers=n_workers,
                     threads_per_worker=threads_per_worker,
                     processes=processes) as client:
        # a key of this call's own: a task key already known to the
        # scheduler (an earlier call for the same galaxy, other options,
        # not yet forgotten) would return that call's result
        call = uuid.uuid4().hex[:12]
        futures = [client.submit(classify_galaxy, g, key=f'starcnet-{g["name"]}-{call}',
                                 pure=False, **options)
                   for g in galaxies]
        return client.gather(futures)


def _classify_tile(bands, x, y, model, device, batch_size, precision, torch_threads,
                   tune_malloc, uncertainty=None, n_samples=16, seed=0):
    from .images import MultiBandImage

    with _in_worker(torch_threads, tune_malloc):
        clf = _classifier(model, device, batch_size, precision, uncertainty, n_samples,
                          seed)
        image = MultiBandImage.read(bands)
        return clf(image, np.column_stack([x, y]))


def classify_tiles(bands, sources, *, tile_size=4096, model=None, device='cpu',
                   batch_size=None, precision='float32', uncertainty=None,
                   n_samples=16, seed=0, scheduler=None, n_workers=None,
                   threads_per_worker=1, processes=True, torch_threads=None,
                   tune_malloc=None):
    """
    Classify the candidates of one large mosaic in tiles, one Dask task
    per tile of ``tile_size`` x ``tile_size`` pixels.

    Each worker memory-maps the band files itself and reads only the
    pixels around its sources; the results are put back in the order of
    ``sources`` and are those of a serial run (with
    ``uncertainty='mc_dropout'``, each tile draws its dropout masks from
    ``seed`` itself, so the samples are not the serial run's, though
    alike in distribution; the other settings give the serial run's
    values, to float rounding).

    Parameters
    ----------
    bands : dict
        Band name to FITS path, readable by every worker.
    sources : `~astropy.table.Table` or array
        As for `~starcnet.StarClusterClassifier` (pixel positions).
    tile_size : int, optional
        Side of a tile in pixels.
    model, device, batch_size, precision : optional
        As for `classify_galaxies`.
    uncertainty, n_samples, seed : optional
        Per-source uncertainty, as for `~starcnet.StarClusterClassifier`
        (checked here, before any work is sent).
    scheduler, n_workers, threads_per_worker, processes : optional
        As for `classify_galaxies`.
    torch_threads, tune_malloc : optional
        As for `classify_galaxies`.

    Returns
    -------
    catalog : `~astropy.table.QTable`
        The input columns plus the classification columns, as the
        classifier returns them.
    """
    from .classifier import StarClusterClassifier, _positions
    from .images import MultiBandImage

    if int(tile_size) < 1:
        msg = f'tile_size must be a positive integer, got {tile_size!r}'
        raise ValueError(msg)
    _check_uncertainty(uncertainty, n_samples, seed)
    bands = {str(b): os.path.abspath(os.fspath(p)) for b, p in bands.items()}
    image = MultiBandImage.read(bands)
    table, x, y = _positions(sources, image.wcs)
    tile = (np.floor(y) // tile_size).astype(np.int64) * (1 << 31) + \
        (np.floor(x) // tile_size).astype(np.int64)
    keys, members = np.unique(tile, return_inverse=True)
    parts = [np.flatnonzero(members == k) for k in range(len(keys))]
    if not parts:
        # nothing to distribute: the serial classifier makes the empty
        # table (in this process: not cached, no settings changed)
        return StarClusterClassifier(model, device=device, batch_size=batch_size,
                                     precision=precision, uncertainty=uncertainty,
                                     n_samples=n_samples, seed=seed)(image, sources)
    torch_threads, tune_malloc = _worker_options(
        scheduler, processes, threads_per_worker, torch_threads, tune_malloc)
    with dask_client(scheduler, n_workers=n_workers,
                     threads_per_worker=threads_per_worker,
                     processes=processes) as client:
        futures = [client.submit(_classify_tile, bands, x[p], y[p], model, device,
                                 batch_size, precision, torch_threads, tune_malloc,
                                 uncertainty, n_samples, seed, pure=False)
                   for p in parts]
        results = client.gather(futures)
    merged = vstack([QTable(r) for r in results], metadata_conflicts='silent')
    order = np.empty(len(x), dtype=np.int64)
    order[np.concatenate(parts)] = np.arange(len(x))
    merged = merged[order]
    new_columns = [c for c in merged.colnames if c not in ('x', 'y')
                   and c not in table.colnames]
    for name in new_columns:
        table[name] = merged[name]
    table.meta.update(results[0].meta)
    return table
