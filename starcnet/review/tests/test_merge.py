# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""Several reviewers merged: mode, agreement per source and between reviewers."""

import numpy as np
import pytest
from astropy.table import QTable

from starcnet.io import write_catalog
from starcnet.review import (CatalogMismatchError, LabelJournal, cohen_kappa,
                             merge_reviews, write_labels)

# rows 0-8; None: no label
LABELS = {
    'ana': [1, 1, 2, 2, 3, 4, 'skip', None, 1],
    'bob': [1, 2, 2, 2, 3, 3, 1, 'unsure', 2],
    'cy': [1, 2, 3, None, 3, 4, None, None, None],
}


def make_catalog(n=9):
    return QTable({'id': np.arange(1, n + 1), 'x': np.arange(n) * 10.0 + 3,
                   'y': np.arange(n) * 7.0 + 2})


@pytest.fixture
def journals(tmp_path):
    catalog = make_catalog()
    paths = []
    for name, labels in LABELS.items():
        path = tmp_path / f'{name}.jsonl'
        with LabelJournal(path, name, catalog) as journal:
            journal.append(0, 4)             # superseded below
            for row, label in enumerate(labels):
                if label is not None:
                    journal.append(row, label)
        paths.append(path)
    return catalog, paths


def check_hand_case(merged):
    s = merged.sources
    assert s.meta['reviewers'] == ['ana', 'bob', 'cy']
    assert s['class_ana'].tolist() == [1, 1, 2, 2, 3, 4, None, None, 1]
    assert s['n_reviewers'].tolist() == [3, 3, 3, 2, 3, 3, 1, 0, 2]
    assert s['n_agree'].tolist()[:7] + s['n_agree'].tolist()[8:] == [3, 2, 2, 2, 3, 2, 1, 1]
    assert s['human_class'].tolist() == [1, 2, 2, 2, 3, 4, 1, None, None]
    assert s['tie'].tolist() == [False] * 8 + [True]
    np.testing.assert_allclose(s['agreement'].filled(np.nan),
                               [1, 2 / 3, 2 / 3, 1, 1, 2 / 3, 1, np.nan, 0.5])
    assert s['agreement'].mask.tolist() == [False] * 7 + [True, False]

    # by hand: ana-bob share rows 0-5 and 8, agree on 0, 2, 3, 4;
    # marginals ana (3, 2, 1, 1), bob (1, 4, 2, 0) of 7: p_e = 13/49
    pairs = {(a, b): (n, f, k) for a, b, n, f, k in merged.pairs}
    n, f, k = pairs['ana', 'bob']
    assert n == 7
    assert f == pytest.approx(4 / 7)
    assert k == pytest.approx((4 / 7 - 13 / 49) / (1 - 13 / 49))
    assert k == pytest.approx(15 / 36)
    # ana-cy: rows 0, 1, 2, 4, 5; agree 3 of 5; p_e = 6/25
    n, f, k = pairs['ana', 'cy']
    assert (n, f) == (5, pytest.approx(0.6))
    assert k == pytest.approx(9 / 19)
    # bob-cy: agree 3 of 5; p_e = 7/25
    n, f, k = pairs['bob', 'cy']
    assert (n, f) == (5, pytest.approx(0.6))
    assert k == pytest.approx(4 / 9)

    m = merged.agreement
    assert m['reviewer'].tolist() == ['ana', 'bob', 'cy']
    assert m.colnames == ['reviewer', 'ana', 'bob', 'cy']
    np.testing.assert_allclose(np.array([m[c] for c in ['ana', 'bob', 'cy']]),
                               [[1, 4 / 7, 0.6], [4 / 7, 1, 0.6], [0.6, 0.6, 1]])
    kap = merged.kappa
    np.testing.assert_allclose(np.array([kap[c] for c in ['ana', 'bob', 'cy']]),
                               [[1, 15 / 36, 9 / 19], [15 / 36, 1, 4 / 9],
                                [9 / 19, 4 / 9, 1]])


def test_merge_journals(journals):
    catalog, paths = journals
    merged = merge_reviews(paths, catalog=catalog)
    check_hand_case(merged)
    assert merged.sources['id'].tolist() == list(range(1, 10))
    sources, pairs, agreement, kappa = merged      # a named tuple
    assert len(pairs) == 3


def test_merge_open_journals_and_labelled_catalogs(tmp_path, journals):
    catalog, paths = journals
    labelled = []
    for path in paths:
        out = tmp_path / f'{path.stem}.ecsv'
        write_labels(catalog, path, out)
        labelled.append(out)
    check_hand_case(merge_reviews(labelled))
    # mixed: a journal object, a labelled table, a labelled file
    with LabelJournal(paths[0], 'ana', catalog) as ana:
        bob = write_labels(catalog, paths[1], tmp_path / 'bob2.ecsv')
        check_hand_case(merge_reviews([ana, bob, labelled[2]]))


def test_two_reviewers(journals):
    _, paths = journals
    merged = merge_reviews(paths[:2])
    assert merged.sources['human_class'].tolist() == [1, None, 2, 2, 3, None, 1, None,
                                                      None]
    assert merged.sources['tie'].tolist() == [False, True, False, False, False, True,
                                              False, False, True]
    assert len(merged.pairs) == 1
    assert merged.pairs['kappa'][0] == pytest.approx(15 / 36)


def test_merge_refuses(tmp_path, journals):
    catalog, paths = journals
    with pytest.raises(ValueError, match="'ana'.*more than one review"):
        merge_reviews([paths[0], paths[0]])
    with pytest.raises(ValueError, match='at least one'):
        merge_reviews([])
    with pytest.raises(TypeError, match='reviews\\[0\\] is a int'):
        merge_reviews([3])
    other = make_catalog(10)
    with LabelJournal(tmp_path / 'dan.jsonl', 'dan', other) as dan:
        dan.append(0, 1)
        with pytest.raises(CatalogMismatchError, match='different catalogs'):
            merge_reviews([paths[0], dan])
    with pytest.raises(CatalogMismatchError, match='another catalog'):
        merge_reviews(paths, catalog=other[1:])
    plain = tmp_path / 'plain.ecsv'
    write_catalog(catalog, plain)
    with pytest.raises(ValueError, match='no human_label'):
        merge_reviews([plain])


def test_no_common_sources(tmp_path):
    catalog = make_catalog(4)
    with LabelJournal(tmp_path / 'a.jsonl', 'a', catalog) as a, \
            LabelJournal(tmp_path / 'b.jsonl', 'b', catalog) as b:
        a.append(0, 1)
        b.append(1, 2)
        merged = merge_reviews([a, b])
    assert merged.pairs['n_common'][0] == 0
    assert np.isnan(merged.pairs['agreement'][0]) and np.isnan(merged.pairs['kappa'][0])


def test_cohen_kappa():
    # by hand: p_o = 3/4; marginals (2, 2) and (1, 3) of 4: p_e = 8/16
    assert cohen_kappa([1, 1, 2, 2], [1, 2, 2, 2]) == pytest.approx(0.5)
    assert cohen_kappa([1, 2, 3, 4], [1, 2, 3, 4]) == 1.0
    # always one and the same class: chance agreement 1, kappa undefined
    assert np.isnan(cohen_kappa([2, 2], [2, 2]))
    assert np.isnan(cohen_kappa([], []))
    assert cohen_kappa([1, 2], [2, 1]) == pytest.approx(-1.0)
    with pytest.raises(ValueError, match='classes must be 1-4'):
        cohen_kappa([0, 1], [1, 1])
    with pytest.raises(ValueError, match='one length'):
        cohen_kappa([1, 1], [1])
