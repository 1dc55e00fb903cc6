# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""`starcnet.metrics.auroc` against a brute-force count of pairs."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from starcnet.metrics import auroc


def _pairs(a, b):
    a, b = np.asarray(a, float), np.asarray(b, float)
    a, b = a[~np.isnan(a)], b[~np.isnan(b)]
    wins = sum((y > x) + 0.5 * (y == x) for x in a for y in b)
    return wins / (len(a) * len(b))


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(-5, 5), min_size=1, max_size=30),
       st.lists(st.integers(-5, 5), min_size=1, max_size=30))
def test_auroc_is_the_pair_count_ties_included(a, b):
    # small integers: many ties
    assert auroc(a, b) == pytest.approx(_pairs(a, b), abs=1e-12)


def test_auroc_cases():
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=300), rng.normal(1.0, 1.0, size=200)
    assert auroc(a, b) == pytest.approx(_pairs(a, b), abs=1e-12)
    assert auroc(a, b) == pytest.approx(1 - auroc(b, a), abs=1e-12)
    assert auroc([0, 1], [2, 3]) == 1.0 and auroc([2, 3], [0, 1]) == 0.0
    assert auroc([1, 1, 1], [1, 1]) == 0.5
    # NaN left out; infinities are ordinary extremes
    assert auroc([0, np.nan, 1], [np.inf, 0.5]) == pytest.approx(_pairs([0, 1], [np.inf, 0.5]))
    with pytest.raises(ValueError, match='not NaN'):
        auroc([np.nan], [1.0])
    with pytest.raises(ValueError, match='not NaN'):
        auroc([1.0], [])
