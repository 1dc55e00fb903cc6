# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""
The error-retention curve (`starcnet.metrics.error_retention`) against a
brute-force computation, and its edge cases.
"""

import itertools

import numpy as np
import pytest
from astropy.table import MaskedColumn

from starcnet.metrics import error_retention, errors_in_top


def brute_force(errors, uncertainty):
    """
    Errors found among the k most uncertain, averaged over every order of
    the sources that sorts them by decreasing uncertainty (ties broken in
    every possible way, each equally likely).
    """
    errors = np.asarray(errors, dtype=float)
    uncertainty = np.asarray(uncertainty, dtype=float)
    n = errors.size
    total = np.zeros(n + 1)
    count = 0
    for order in itertools.permutations(range(n)):
        u = uncertainty[list(order)]
        if np.all(u[:-1] >= u[1:]):
            total[1:] += np.cumsum(errors[list(order)])
            count += 1
    return total / count / errors.sum()


@pytest.mark.parametrize('seed', range(12))
def test_matches_brute_force(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 8))
    errors = rng.random(n) < 0.5
    errors[rng.integers(n)] = True                       # at least one error
    # few distinct values, so that there are ties
    uncertainty = rng.integers(0, 3, n) / 2.0
    curve = error_retention(errors, uncertainty)
    np.testing.assert_allclose(curve['errors_found'], brute_force(errors, uncertainty),
                               atol=1e-12)
    np.testing.assert_allclose(curve['fraction'], np.arange(n + 1) / n)
    e = errors.sum()
    np.testing.assert_allclose(curve['oracle'], np.minimum(np.arange(n + 1), e) / e)
    assert curve.meta['n_errors'] == e and curve.meta['n_used'] == n
    assert curve.meta['auc'] == pytest.approx(np.mean(curve['errors_found']))


def test_perfect_reversed_and_tied_rankings():
    errors = np.array([True, True, False, False, False])
    perfect = error_retention(errors, [5, 4, 3, 2, 1])
    np.testing.assert_allclose(perfect['errors_found'], perfect['oracle'])
    np.testing.assert_allclose(perfect['errors_found'], [0, 0.5, 1, 1, 1, 1])
    reversed_ = error_retention(errors, [1, 2, 3, 4, 5])
    np.testing.assert_allclose(reversed_['errors_found'], [0, 0, 0, 0, 0.5, 1])
    # a constant uncertainty says nothing: the curve is the random diagonal
    constant = error_retention(errors, np.zeros(5))
    np.testing.assert_allclose(constant['errors_found'], constant['random'])
    assert perfect.meta['auc'] > constant.meta['auc'] > reversed_.meta['auc']


def test_left_out_sources():
    errors = MaskedColumn([True, False, True, True, False],
                          mask=[False, False, False, True, False])
    uncertainty = np.array([0.9, 0.1, np.nan, 0.8, 0.5])
    curve = error_retention(errors, uncertainty)
    assert curve.meta['n_used'] == 3 and curve.meta['n_excluded'] == 2
    np.testing.assert_allclose(curve['errors_found'], [0, 1, 1, 1])


def test_no_errors_and_no_sources():
    curve = error_retention([False, False], [0.2, 0.1])
    assert curve.meta['n_errors'] == 0
    assert np.isnan(curve['errors_found']).all() and np.isnan(curve.meta['auc'])
    assert np.isnan(errors_in_top([False], [0.3]))
    empty = error_retention([], [])
    assert len(empty) == 1 and empty.meta['n_used'] == 0
    assert np.isnan(errors_in_top([], []))


def test_errors_in_top():
    errors = [True, False, True, False]
    uncertainty = [0.9, 0.1, 0.5, 0.2]
    assert errors_in_top(errors, uncertainty, 0.25) == 0.5
    assert errors_in_top(errors, uncertainty, 0.5) == 1.0
    assert errors_in_top(errors, uncertainty, 0.125) == 0.25    # half a source
    assert errors_in_top(errors, uncertainty, 0) == 0.0
    for bad in (-0.1, 1.5, '0.2', True):
        with pytest.raises(ValueError, match='fraction must be'):
            errors_in_top(errors, uncertainty, bad)


def test_bad_inputs():
    with pytest.raises(ValueError, match='one length'):
        error_retention([True, False], [0.1])
    with pytest.raises(ValueError, match='one length'):
        error_retention([[True, False]], [[0.1, 0.2]])
    with pytest.raises(ValueError, match='booleans or 0/1'):
        error_retention([2, 0], [0.1, 0.2])
    with pytest.raises(ValueError, match='errors must be booleans'):
        error_retention(['yes', 'no'], [0.1, 0.2])
    with pytest.raises(ValueError, match='uncertainty must be numbers'):
        error_retention([True, False], ['a', 'b'])
