# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""
Simulated candidate sets made in parallel, reproducibly, with a disk cache.

A set of ``n_per_class`` candidates per class is made in chunks of
``CHUNK`` per class; chunk ``k`` is seeded with the ``k``-th child of
``numpy.random.SeedSequence(seed)``, so the result does not depend on the
number of worker processes.  Used by ``scripts/make_default_model.py`` and
``scripts/transfer_table.py``.
"""

import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

CHUNK = 250

#: Candidate generators by name: module and what they are.
GENERATORS = {
    'starcnet': 'starcnet.simulation',
    'kingsim': 'starcnet.evaluation.kingsim',
    'popsim': 'starcnet.evaluation.popsim',
}


def _chunk(generator, n, seed_entropy, spawn_key):
    import importlib
    module = importlib.import_module(GENERATORS[generator])
    seq = np.random.SeedSequence(seed_entropy, spawn_key=spawn_key)
    return module.simulate_candidates(n, seed=np.random.default_rng(seq))


def simulated_set(generator, n_per_class, seed, *, workers=2, cache=None):
    """
    ``(cutouts, labels)`` of ``generator``: class-balanced, reproducible.

    ``cache``: a folder where each chunk is kept as ``.npz`` and reused.
    """
    n_chunks = -(-n_per_class // CHUNK)
    sizes = [min(CHUNK, n_per_class - k * CHUNK) for k in range(n_chunks)]
    paths = [None] * n_chunks
    if cache is not None:
        cache = Path(cache)
        cache.mkdir(parents=True, exist_ok=True)
        paths = [cache / f'{generator}-{seed}-{k}-{s}.npz' for k, s in enumerate(sizes)]
    todo = [k for k in range(n_chunks) if paths[k] is None or not paths[k].exists()]
    results = {}
    if todo:
        # spawned, not forked: the parent may hold torch's threads
        context = multiprocessing.get_context('spawn')
        with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
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
