# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""
The simulated-set pool and the transfer table of ``scripts/`` (only from a
source checkout): sets are reproducible whatever the number of workers and
whether they come from the cache, and the table reports what it was given.
"""

import sys
from pathlib import Path

import numpy as np
import pytest

SCRIPTS = Path(__file__).resolve().parents[2] / 'scripts'
pytestmark = pytest.mark.skipif(not (SCRIPTS / 'transfer_table.py').exists(),
                                reason='needs the source checkout')


@pytest.fixture(scope='module')
def scripts():
    sys.path.insert(0, str(SCRIPTS))
    try:
        import _pool
        import transfer_table
        yield _pool, transfer_table
    finally:
        sys.path.remove(str(SCRIPTS))


def test_simulated_set_reproducible(scripts, tmp_path, monkeypatch):
    pool, _ = scripts
    monkeypatch.setattr(pool, 'CHUNK', 2)
    a = pool.simulated_set('starcnet', 3, 11, workers=1, cache=tmp_path)
    assert a[0].shape == (12, 5, 32, 32)
    assert np.array_equal(np.bincount(a[1]), [0, 3, 3, 3, 3])
    assert sorted(p.name for p in tmp_path.iterdir()) == ['starcnet-11-0-2.npz',
                                                          'starcnet-11-1-1.npz',
                                                          'starcnet.source-sha256']
    cached = pool.simulated_set('starcnet', 3, 11, workers=2, cache=tmp_path)
    fresh = pool.simulated_set('starcnet', 3, 11, workers=2)
    for other in (cached, fresh):
        assert np.array_equal(a[0], other[0]) and np.array_equal(a[1], other[1])
    assert not np.array_equal(a[0], pool.simulated_set('starcnet', 3, 12, workers=1)[0])


def test_cache_of_other_source_refused(scripts, tmp_path, monkeypatch):
    """Chunks made by other generator code are refused, not reused."""
    pool, _ = scripts
    monkeypatch.setattr(pool, 'CHUNK', 1)
    pool.simulated_set('starcnet', 1, 5, workers=1, cache=tmp_path)
    assert (tmp_path / 'starcnet.source-sha256').read_text().strip() == \
        pool.source_fingerprint('starcnet')
    monkeypatch.setattr(pool, 'source_fingerprint', lambda generator: 'f' * 64)
    with pytest.raises(RuntimeError, match='made by other code'):
        pool.simulated_set('starcnet', 1, 5, workers=1, cache=tmp_path)


def test_format_tables(scripts):
    _, tt = scripts
    result = {'accuracy': 0.5, 'binary_accuracy': 0.75, 'ece': 0.125,
              'recall': [1.0, 0.5, 0.25, 0.25],
              'confusion_matrix': [[4, 0, 0, 0], [2, 2, 0, 0], [0, 3, 1, 0], [0, 0, 3, 1]]}
    main, details = tt.format_tables({'m': {'kingsim': result}}, ['starcnet', 'kingsim'],
                                     {'m': 'starcnet.simulation'})
    row = [line for line in main.splitlines() if line.startswith('m ')][0]
    assert '50.0 / 75.0 / 0.125' in row and '--' in row
    assert '100, 50, 25, 25' in details
    assert '4   0   0   0 |   2   2   0   0' in details
