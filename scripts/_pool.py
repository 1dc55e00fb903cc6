# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""
Simulated candidate sets made in parallel, reproducibly, with a disk cache.

A set of ``n_per_class`` candidates per class is made in chunks of
``CHUNK`` per class; chunk ``k`` is seeded with the ``k``-th child of
``numpy.random.SeedSequence(seed)``, so the result does not depend on the
number of worker processes.  Used by ``scripts/make_default_model.py`` and
``scripts/transfer_table.py``.

The workers never outlive the script: each watches its parent and exits
when it is gone (``kill -9``, SIGTERM), and an exception in the parent
(Ctrl-C: `KeyboardInterrupt`) terminates them instead of waiting for
their chunks.
"""

import contextlib
import hashlib
import multiprocessing
import os
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

CHUNK = 250

#: Candidate generators by name: module and what they are.
GENERATORS = {
    'starcnet': 'starcnet.simulation',
    'kingsim': 'starcnet.evaluation.kingsim',
    'popsim': 'starcnet.evaluation.popsim',
    'mgesim': 'starcnet.evaluation.mgesim',
}

_THREE = ('starcnet', 'kingsim', 'popsim')

#: What each bundled model was trained on: a description, and the
#: generators whose candidates are in-distribution for it (a model not
#: named here: the current `starcnet.simulation`).
TRAINED_ON = {
    'sim-small-v1': ('starcnet.simulation 0.1 (before its randomisation)', ('starcnet',)),
    'sim-small-v2': ('starcnet.simulation', ('starcnet',)),
    'sim-small-v3': ('starcnet + kingsim + popsim', _THREE),
    'sim-small-v3-ensemble': ('starcnet + kingsim + popsim', _THREE),
    'sim-small-v4': ('starcnet + kingsim + popsim (2.5x data)', _THREE),
    'sim-small-v5': ('starcnet + kingsim + popsim (5x data)', _THREE),
}


def trained_on(model):
    """``(description, generators)`` of `TRAINED_ON` for ``model``."""
    return TRAINED_ON.get(model, ('starcnet.simulation', ('starcnet',)))


#: Seeds of the evaluation sets of each generator (never used for training).
EVAL_SEEDS = {'starcnet': 7001, 'kingsim': 7002, 'popsim': 7003, 'mgesim': 7004}

#: Seeds of the training, validation and held-out test sets drawn from each
#: generator for training (the reference models of ``transfer_table.py``,
#: ``multi_source.py``, ``make_default_model.py --train-generators``); the
#: default model's own ``starcnet`` sets are seeded by its ``--seed``.
TRAIN_SEEDS = {'starcnet': (1, 2, 3), 'kingsim': (8101, 8102, 8103),
               'popsim': (8201, 8202, 8203), 'mgesim': (8301, 8302, 8303)}

#: Seeds that no training, validation or held-out set of a model may use,
#: for any generator: the evaluation sets above, ``ood_table.py``'s fit,
#: test and shift sets (9201-9211) and ``active_learning_curve.py``'s pool,
#: test and validation sets (9101-9103).
HELD_OUT_SEEDS = frozenset({*EVAL_SEEDS.values(), *range(9101, 9104), *range(9201, 9212)})

#: Seconds between a worker's checks that its parent is alive.
PARENT_POLL = 0.2


def _exit_with_parent(parent_pid):
    """
    Pool initializer: end this worker process as soon as ``parent_pid``
    is no longer its parent (the parent died and the worker was
    reparented), from a daemon thread that polls `os.getppid`.
    """
    def watch():
        while os.getppid() == parent_pid:
            time.sleep(PARENT_POLL)
        os._exit(1)

    if os.getppid() != parent_pid:   # died while this worker started
        os._exit(1)
    threading.Thread(target=watch, name='exit-with-parent', daemon=True).start()


def _terminate(pool):
    """Stop a pool now: cancel what is queued, terminate the workers."""
    # the executor's own record of its workers (it forgets them on shutdown)
    processes = list((getattr(pool, '_processes', None) or {}).values())
    pool.shutdown(wait=False, cancel_futures=True)
    for process in processes:
        if process.is_alive():
            process.terminate()
    for process in processes:
        process.join(timeout=5)
        if process.is_alive():
            process.kill()
            process.join(timeout=5)


@contextlib.contextmanager
def worker_pool(workers):
    """
    A `~concurrent.futures.ProcessPoolExecutor` of ``workers`` spawned
    processes that exit when this process dies, and are terminated (not
    waited for) when the ``with`` block raises, e.g. on Ctrl-C.
    """
    # spawned, not forked: the parent may hold torch's threads
    context = multiprocessing.get_context('spawn')
    pool = ProcessPoolExecutor(max_workers=workers, mp_context=context,
                               initializer=_exit_with_parent, initargs=(os.getpid(),))
    try:
        yield pool
    except BaseException:
        _terminate(pool)
        raise
    pool.shutdown(wait=True)


def _chunk(generator, n, seed_entropy, spawn_key):
    import importlib
    module = importlib.import_module(GENERATORS[generator])
    seq = np.random.SeedSequence(seed_entropy, spawn_key=spawn_key)
    return module.simulate_candidates(n, seed=np.random.default_rng(seq))


def source_fingerprint(generator):
    """
    sha256 (hex) of the files of ``generator``'s package (``.py`` and
    data, not ``__pycache__``): a chunk made by other code is another set.
    """
    import importlib.util
    spec = importlib.util.find_spec(GENERATORS[generator])
    folder = Path(spec.origin).parent
    digest = hashlib.sha256()
    for path in sorted(folder.rglob('*')):
        if path.is_file() and '__pycache__' not in path.parts and path.suffix != '.pyc':
            digest.update(path.relative_to(folder).as_posix().encode() + b'\0')
            digest.update(path.read_bytes() + b'\0')
    return digest.hexdigest()


def _check_cache_source(cache, generator):
    """
    Refuse chunks of ``generator`` in ``cache`` made by other source code
    (a changed recipe would otherwise be evaluated on stale sets).  The
    fingerprint is recorded in ``<generator>.source-sha256`` there; a
    folder from before the record is taken to match the code now.
    """
    record = cache / f'{generator}.source-sha256'
    now = source_fingerprint(generator)
    if record.exists():
        then = record.read_text().strip()
        if then != now:
            msg = (f'the {generator} chunks in {cache} were made by other code '
                   f'(source sha256 {then[:12]}, now {now[:12]}): give another '
                   f'cache folder, or delete {generator}-*.npz and {record.name} there')
            raise RuntimeError(msg)
    else:
        record.write_text(now + '\n')


def simulated_set(generator, n_per_class, seed, *, workers=2, cache=None):
    """
    ``(cutouts, labels)`` of ``generator``: class-balanced, reproducible.

    ``cache``: a folder where each chunk is kept as ``.npz`` and reused,
    only while the generator's source is the one that made them (see
    `_check_cache_source`).
    """
    n_chunks = -(-n_per_class // CHUNK)
    sizes = [min(CHUNK, n_per_class - k * CHUNK) for k in range(n_chunks)]
    paths = [None] * n_chunks
    if cache is not None:
        cache = Path(cache)
        cache.mkdir(parents=True, exist_ok=True)
        _check_cache_source(cache, generator)
        paths = [cache / f'{generator}-{seed}-{k}-{s}.npz' for k, s in enumerate(sizes)]
    todo = [k for k in range(n_chunks) if paths[k] is None or not paths[k].exists()]
    results = {}
    if todo:
        with worker_pool(workers) as pool:
            futures = {k: pool.submit(_chunk, generator, sizes[k], seed, (k,))
                       for k in todo}
            for k, future in futures.items():
                cutouts, labels = future.result()
                if paths[k] is not None:
                    tmp = paths[k].with_suffix('.tmp.npz')
                    np.savez(tmp, cutouts=cutouts, labels=labels)
                    os.replace(tmp, paths[k])
                results[k] = (cutouts, labels)
    parts = []
    for k in range(n_chunks):
        if k in results:
            parts.append(results[k])
        else:
            with np.load(paths[k]) as f:
                parts.append((f['cutouts'], f['labels']))
    cutouts = np.concatenate([p[0] for p in parts])
    labels = np.concatenate([p[1] for p in parts])
    return cutouts, labels


def mixed_set(generators, n_per_class, which, *, seeds=None, workers=2, cache=None):
    """
    ``(cutouts, labels)``: `simulated_set` of ``n_per_class`` candidates
    per class of each of ``generators``, concatenated.  ``which`` picks
    the seed of each from ``seeds`` (default `TRAIN_SEEDS`): 0 the
    training, 1 the validation, 2 the held-out test set.
    """
    seeds = TRAIN_SEEDS if seeds is None else seeds
    parts = [simulated_set(g, n_per_class, seeds[g][which], workers=workers, cache=cache)
             for g in generators]
    return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])
