# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""
The error-retention curve (`starcnet.metrics.error_retention`) against a
brute-force computation, and its edge cases.
"""

import itertools

import numpy as np
import pytest
from astropy.table import MaskedColumn

from starcnet.metrics import calibrated_error_retention, error_retention, errors_in_top


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


def test_calibrated_curve_is_the_expected_curve():
    """
    Sources drawn wrong with exactly their error probability: the mean
    number of errors found among the k most doubtful, over many draws,
    over the mean number of errors, is the calibrated curve.
    """
    rng = np.random.default_rng(3)
    q = rng.uniform(0, 0.6, 40)
    curve = calibrated_error_retention(q)
    draws = rng.random((20000, q.size)) < q
    order = np.argsort(-q)
    found = np.concatenate([np.zeros((len(draws), 1)),
                            np.cumsum(draws[:, order], axis=1)], axis=1)
    expected = found.mean(axis=0) / draws.sum(axis=1).mean()
    np.testing.assert_allclose(curve['errors_found'], expected, atol=0.01)
    assert curve.meta['expected_errors'] == pytest.approx(q.sum())
    np.testing.assert_allclose(curve['fraction'], np.arange(41) / 40)


def test_calibrated_curve_is_a_ceiling():
    """No set of k sources holds more expected errors than the k most doubtful."""
    rng = np.random.default_rng(5)
    q = rng.uniform(0, 0.75, 7)
    curve = calibrated_error_retention(q)
    for k in range(8):
        best = max((q[list(c)].sum() for c in itertools.combinations(range(7), k)),
                   default=0.0)
        assert curve['errors_found'][k] * q.sum() == pytest.approx(best)


@pytest.mark.parametrize('accuracy', [0.55, 0.7, 0.75, 0.9])
def test_calibrated_ceiling_depends_on_accuracy(accuracy):
    """
    Binary error probabilities (at most 1/2) with a mean of 1 - accuracy:
    the 20% most doubtful hold at most 0.1 / (1 - accuracy) of the errors,
    reached when the doubtful sources sit at 1/2.
    """
    n = 1000
    n_half = int(0.2 * n)
    rest = ((1 - accuracy) * n - 0.5 * n_half) / (n - n_half)
    q = np.r_[np.full(n_half, 0.5), np.full(n - n_half, max(rest, 0.0))]
    top = float(np.interp(0.2, *calibrated_error_retention(q)[['fraction', 'errors_found']]
                          .columns.values()))
    assert top == pytest.approx(min(1.0, 0.1 / (1 - accuracy)), rel=1e-9)
    # any binary error probabilities: at most 0.1 over their mean
    rng = np.random.default_rng(int(100 * accuracy))
    for _ in range(20):
        q = np.clip(rng.beta(0.5, 2.0, n), 0, 0.5)
        curve = calibrated_error_retention(q)
        top = np.interp(0.2, curve['fraction'], curve['errors_found'])
        assert top <= 0.1 / q.mean() + 1e-12


def test_calibrated_curve_edge_cases():
    curve = calibrated_error_retention(np.ma.MaskedArray([0.2, 0.4, np.nan, 0.9],
                                                         mask=[False, False, False, True]))
    assert curve.meta['n_used'] == 2 and curve.meta['n_excluded'] == 2
    np.testing.assert_allclose(curve['errors_found'], [0, 2 / 3, 1])
    none = calibrated_error_retention([0.0, 0.0])
    assert none.meta['expected_errors'] == 0 and np.isnan(none['errors_found']).all()
    empty = calibrated_error_retention([])
    assert len(empty) == 1 and empty.meta['n_used'] == 0
    with pytest.raises(ValueError, match=r'in \[0, 1\]'):
        calibrated_error_retention([0.2, 1.5])
    with pytest.raises(ValueError, match='1-D'):
        calibrated_error_retention([[0.2, 0.1]])
    with pytest.raises(ValueError, match='must be numbers'):
        calibrated_error_retention(['a'])
