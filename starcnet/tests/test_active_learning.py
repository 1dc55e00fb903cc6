# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""
Active learning: the acquisition rules, select_batch, the loop and the
review oracle.
"""

import numpy as np
import pytest

pytest.importorskip('torch')

import torch  # noqa: E402
from astropy.table import Table  # noqa: E402

from starcnet.conftest import save_tiny_model  # noqa: E402
from starcnet.training import ActiveLearner, acquisition_scores, select_batch  # noqa: E402
from starcnet.training.active import (NO_CLASS, NOT_REVIEWED, RULES,  # noqa: E402
                                      _head_only_parts, _sample_proba)

# three sources over 4 classes, 2 samples each: confident and agreeing;
# ambiguous (uniform) but agreeing; confident and disagreeing
AGREE = [0.97, 0.01, 0.01, 0.01]
UNIFORM = [0.25, 0.25, 0.25, 0.25]
SAMPLES = np.array([[AGREE, UNIFORM, [0.97, 0.01, 0.01, 0.01]],
                    [AGREE, UNIFORM, [0.01, 0.97, 0.01, 0.01]]])


def _save_tiny(path, *, width=4, dropout=0.5, seed=0):
    return str(save_tiny_model(path, width=width, dropout=dropout, seed=seed, name='tiny-al'))


@pytest.fixture(scope='module')
def tiny(tmp_path_factory):
    return _save_tiny(tmp_path_factory.mktemp('al') / 'tiny4.safetensors')


@pytest.fixture(scope='module')
def pool():
    """Cutouts with class-dependent brightness and size, and their classes."""
    rng = np.random.default_rng(4)
    n = 24
    labels = np.tile([1, 2, 3, 4], n // 4)
    yy, xx = np.mgrid[:32, :32] - 15.5
    r2 = xx ** 2 + yy ** 2
    cutouts = rng.normal(0.05, 0.01, (n, 5, 32, 32))
    for i, k in enumerate(labels):
        cutouts[i] += (5 - k) * np.exp(-r2 / (2 * (0.8 + k) ** 2))
    return cutouts.astype(np.float32), labels


# -- the rules: pure functions ------------------------------------------------
def test_mutual_information_picks_disagreement():
    mi = acquisition_scores(SAMPLES, 'mutual_information')
    assert np.argmax(mi) == 2
    assert mi[0] == pytest.approx(0, abs=1e-12) and mi[1] == pytest.approx(0, abs=1e-12)
    assert list(select_batch(None, np.zeros((3, 5, 32, 32)), n=1, rule='random')) != []
    # the entropy of the mean ranks the ambiguous (uniform) source first
    ent = acquisition_scores(SAMPLES, 'entropy')
    assert np.argmax(ent) == 1 and ent[1] == pytest.approx(np.log(4))
    # margin: the uniform source has margin 0, the disagreeing one ~0
    margin = acquisition_scores(SAMPLES, 'margin')
    assert margin[0] == pytest.approx(-0.96)
    assert margin[1] == pytest.approx(0) and margin[2] == pytest.approx(0, abs=1e-9)


def test_random_rule_is_seeded_and_local():
    state = np.random.get_state()[1].copy()
    a = acquisition_scores(50, 'random', seed=3)
    b = acquisition_scores(SAMPLES.repeat(17, axis=1)[:, :50], 'random', seed=3)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, acquisition_scores(50, 'random', seed=4))
    np.testing.assert_array_equal(np.random.get_state()[1], state)


def test_random_choice_is_uniform():
    cutouts = np.zeros((10, 5, 32, 32), np.float32)
    labelled = np.zeros(10, bool)
    labelled[[2, 7]] = True
    counts = np.zeros(10, int)
    for seed in range(1600):
        counts[select_batch(None, cutouts, labelled, 2, rule='random', seed=seed)] += 1
    assert counts[2] == counts[7] == 0
    # 3200 draws over 8 candidates: 400 each expected, sd ~ 19
    assert np.all(np.abs(counts[~labelled] - 400) < 90), counts


def test_unknown_rule_and_bad_arguments():
    with pytest.raises(ValueError, match='rule must be one of'):
        acquisition_scores(SAMPLES, 'bald')
    cutouts = np.zeros((3, 5, 32, 32), np.float32)
    with pytest.raises(ValueError, match='labelled_mask must be a boolean array'):
        select_batch(None, cutouts, [0, 1, 0], 1, rule='random')
    with pytest.raises(ValueError, match='labelled_mask'):
        select_batch(None, cutouts, np.zeros(4, bool), 1, rule='random')
    with pytest.raises(ValueError, match='n must be a non-negative integer'):
        select_batch(None, cutouts, None, -1, rule='random')
    with pytest.raises(ValueError, match='samples must have shape'):
        acquisition_scores(np.ones((3, 4)), 'entropy')


def test_labelled_never_chosen_and_n_larger_than_left(tiny, pool):
    cutouts, _ = pool
    labelled = np.zeros(len(cutouts), bool)
    labelled[::3] = True
    for rule in RULES:
        chosen = select_batch(tiny, cutouts, labelled, 100, rule=rule, n_samples=3)
        # every unlabelled candidate once, no labelled one
        assert sorted(chosen) == list(np.flatnonzero(~labelled)), rule
    assert select_batch(tiny, cutouts, np.ones(len(cutouts), bool), 5).size == 0
    assert select_batch(tiny, cutouts, labelled, 0).size == 0


def test_select_batch_ranks_by_score_and_is_seeded(tiny, pool):
    from starcnet.models import Predictor
    from starcnet.models.uncertainty import mutual_information

    cutouts, _ = pool
    predictor = Predictor.from_model(tiny)
    a = select_batch(predictor, cutouts, None, 6, n_samples=8, seed=5)
    np.testing.assert_array_equal(a, select_batch(tiny, cutouts, None, 6, n_samples=8,
                                                  seed=5))
    mi = mutual_information(_sample_proba(predictor, cutouts, None, n_samples=8, seed=5))
    np.testing.assert_array_equal(a, np.argsort(-mi, kind='stable')[:6])


def test_non_finite_candidates_last():
    samples = SAMPLES.copy()
    samples[:, 2] = np.nan
    scores = acquisition_scores(samples, 'mutual_information')
    assert np.isnan(scores[2])
    from starcnet.training.active import _top
    assert list(_top(scores, np.arange(3), 3)) == [0, 1, 2]
    assert list(_top(np.array([0.1, np.nan, 0.5]), np.arange(3), 3)) == [2, 0, 1]


def test_head_sampling_matches_full_sampling(tiny, pool):
    """Drawing only the dropout masks and the head: the distribution of full passes."""
    from starcnet.models import Predictor
    from starcnet.models.uncertainty import mean_proba, proba_std

    cutouts = pool[0][:4]
    predictor = Predictor.from_model(tiny, temperature=0.5)
    head = _sample_proba(predictor, cutouts, None, n_samples=60, seed=1, sampling='head')
    full = _sample_proba(predictor, cutouts, None, n_samples=60, seed=2, sampling='full')
    assert head.shape == full.shape == (60, 4, 4)
    # the two means differ by their Monte Carlo error only: within 5
    # standard errors of the difference
    sd_h, sd_f = proba_std(head), proba_std(full)
    se = np.sqrt((sd_h ** 2 + sd_f ** 2) / 60)
    assert np.all(np.abs(mean_proba(head) - mean_proba(full)) < 5 * se + 1e-6)
    np.testing.assert_allclose(sd_h, sd_f, rtol=0.4, atol=0.01)
    assert sd_h.max() > 0.05          # the samples do differ
    # seeded: the same masks again
    np.testing.assert_array_equal(
        head, _sample_proba(predictor, cutouts, None, n_samples=60, seed=1))


def test_head_sampling_applies_only_to_starcnet(tmp_path, pool):
    from torch import nn

    from starcnet.models import Predictor

    assert _head_only_parts(nn.Sequential(nn.Dropout(0.5))) is None
    no_dropout = Predictor.from_model(_save_tiny(tmp_path / 'nodrop.safetensors',
                                                 dropout=0.0))
    with pytest.raises(ValueError, match='needs a network with dropout'):
        select_batch(no_dropout, pool[0], None, 2)
    with pytest.raises(ValueError, match="sampling must be 'auto'"):
        select_batch(no_dropout, pool[0], None, 2, sampling='fast')


# -- the loop ---------------------------------------------------------------
def _learner(tiny, pool, **kwargs):
    cutouts, labels = pool
    kwargs.setdefault('steps', 1)
    kwargs.setdefault('n_samples', 2)
    return ActiveLearner(cutouts, lambda idx: labels[idx], model=tiny,
                         fit_options={'batch_size': 8}, **kwargs)


def test_loop_grows_by_n_per_round(tiny, pool):
    torch_state = torch.random.get_rng_state()
    np_state = np.random.get_state()[1].copy()
    learner = _learner(tiny, pool, seed=3)
    history = learner.run([4, 10], test=pool)
    assert [h['n_labelled'] for h in history] == [4, 10]
    assert [len(h['chosen']) for h in history] == [4, 6]
    chosen = np.concatenate([h['chosen'] for h in history])
    assert np.unique(chosen).size == 10
    assert learner.n_labelled == 10 and learner.queried.sum() == 10
    np.testing.assert_array_equal(learner.labels[chosen], pool[1][chosen])
    assert all(0 <= h['evaluation']['accuracy'] <= 1 for h in history)
    assert learner.result.metadata['training']['n_cutouts'] == 10
    assert learner.result.metadata['training']['base_model'] == 'tiny-al'
    # the caller's random state is untouched
    assert torch.equal(torch.random.get_rng_state(), torch_state)
    np.testing.assert_array_equal(np.random.get_state()[1], np_state)
    # one seed, one result
    again = _learner(tiny, pool, seed=3).run([4, 10], test=pool)
    assert [h['chosen'] for h in again] == [h['chosen'] for h in history]
    assert [h['evaluation'] for h in again] == [h['evaluation'] for h in history]


def test_loop_continue_and_exhausted_pool(tiny, pool):
    learner = _learner(tiny, pool, restart=False, rule='random', seed=1)
    history = learner.run([20, 30, 40])
    # the pool has 24: the second round takes the last 4, the third none
    assert [h['n_queried'] for h in history] == [20, 24]
    assert learner.queried.all()
    # continuing: the second round's base is the first round's model
    assert learner.result.metadata['training']['base_model'] == (
        'active-learning-previous-round')


def test_teach_codes(tiny, pool):
    learner = _learner(tiny, pool)
    assert learner.teach([0, 1, 2, 3], [1, 'skip', NOT_REVIEWED, None]) == 1
    assert learner.labels[:4].tolist() == [1, NO_CLASS, NOT_REVIEWED, NO_CLASS]
    assert learner.n_labelled == 1 and learner.queried.sum() == 3
    # looked-at rows are not chosen again; the unreviewed one can be
    chosen = learner.query(24)
    assert 2 in chosen and not {0, 1, 3} & set(chosen.tolist())
    with pytest.raises(ValueError, match='labels must be LEGUS classes 1-4'):
        learner.teach([5], [7])
    with pytest.raises(ValueError, match='1 labels for 2 indices'):
        learner.teach([5, 6], [1])
    with pytest.raises(ValueError, match='pool indices 0 to 23'):
        learner.teach([24], [1])
    no_oracle = ActiveLearner(pool[0], model=tiny)
    with pytest.raises(ValueError, match='need an oracle'):
        no_oracle.step(2)
    bad = ActiveLearner(pool[0], lambda idx: [1], model=tiny, steps=1)
    with pytest.raises(ValueError, match='one label per index'):
        bad.step(2)
    with pytest.raises(ValueError, match='fit_options cannot set'):
        ActiveLearner(pool[0], model=tiny, fit_options={'epochs': 3})
    with pytest.raises(ValueError, match='budgets must be positive and increasing'):
        learner.run([4, 4])


# -- labels from a review ----------------------------------------------------------
def test_labels_from_journal_and_catalog(tiny, pool, tmp_path):
    from starcnet.review import LabelJournal, ReviewOracle, review_labels, write_labels

    cutouts, truth = pool
    catalog = Table({'id': np.arange(100, 100 + len(cutouts)),
                     'x': np.arange(len(cutouts), dtype=float),
                     'y': np.ones(len(cutouts))})
    path = tmp_path / 'ana.labels.jsonl'
    learner = ActiveLearner(cutouts, ReviewOracle(path), model=tiny, steps=1,
                            n_samples=2, fit_options={'batch_size': 8})
    rows = learner.query(5)
    with LabelJournal(path, 'ana', catalog) as journal:
        for row in rows[:3]:
            journal.append(int(row), int(truth[row]))
        journal.append(int(rows[3]), 'unsure')
        codes = review_labels(journal, rows)
    # row 4 of the batch: not reviewed yet
    assert codes.tolist() == [*truth[rows[:3]].tolist(), NO_CLASS, NOT_REVIEWED]
    np.testing.assert_array_equal(review_labels(path, rows), codes)
    learner.teach(rows, learner.oracle(rows))
    assert learner.n_labelled == 3 and learner.queried.sum() == 4
    learner.retrain()
    assert learner.result.metadata['training']['n_cutouts'] == 3
    assert 'rounds=1' in repr(learner)          # the next query draws new seeds
    # the same from the labelled catalog written from the journal
    ecsv = tmp_path / 'labels.ecsv'
    write_labels(catalog, path, ecsv)
    np.testing.assert_array_equal(review_labels(ecsv, rows), codes)
    np.testing.assert_array_equal(review_labels(Table.read(ecsv), rows), codes)
    # a pool that is a subset of the catalog: its rows given
    oracle = ReviewOracle(path, rows=rows)
    assert oracle([0, 3]).tolist() == [truth[rows[0]], NO_CLASS]
    with pytest.raises(ValueError, match='catalog rows 0 to 23'):
        review_labels(path, [24])
    with pytest.raises(ValueError, match="no column 'klass'"):
        review_labels(ecsv, rows, class_column='klass')
    with pytest.raises(TypeError, match='source must be'):
        review_labels(3, rows)


# -- the curve script's outputs (source checkout only) ---------------------------
def test_curve_script_table_and_figure(tmp_path):
    import importlib.util
    import json
    import sys
    from pathlib import Path

    script = Path(__file__).resolve().parents[2] / 'scripts' / 'active_learning_curve.py'
    if not script.exists():
        pytest.skip('needs the source checkout')
    saved = list(sys.path)
    try:
        spec = importlib.util.spec_from_file_location('active_learning_curve', script)
        curve = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(curve)
    finally:
        sys.path[:] = saved

    def point(budget, acc):
        return {'budget': budget, 'test': {'accuracy': acc, 'binary_accuracy': acc + 0.2},
                'validation': {'accuracy': acc, 'binary_accuracy': acc}}

    results = {
        'config': {'base_model': 'tiny', 'width': 4, 'pool_size': 20, 'test_size': 8},
        'runs': {'random': [{'points': [point(0, 0.4), point(10, 0.5)]},
                            {'points': [point(0, 0.4), point(10, 0.6)]}],
                 'mutual_information': [{'points': [point(0, 0.4), point(10, 0.45)]}]},
        'reference': {'n_labels': 10, 'epochs': 2,
                      'test': {'accuracy': 0.3, 'binary_accuracy': 0.55}},
        'steps_check': [{'steps': 5, 'n_labels': 10, 'test': {'accuracy': 0.5},
                         'validation': {'accuracy': 0.25}}]}
    assert curve.summarise(results['runs']['random'], 'accuracy') == {
        0: (0.4, 0.0, 2), 10: (pytest.approx(0.55), pytest.approx(0.05), 2)}
    curve.write_outputs(results, tmp_path)
    table = (tmp_path / 'active_learning_table.inc').read_text()
    assert '55.0 ± 5.0 / 75.0 ± 5.0 (n=2)' in table          # random at 10 labels
    assert '45.0 ± 0.0 / 65.0 ± 0.0 (n=1)' in table          # mutual information
    assert 'from scratch (2 epochs) on 10 randomly chosen pool labels: 30.0 / 55.0' in table
    assert '5 steps: validation 25.0, test 50.0' in table
    assert json.loads((tmp_path / 'active_learning_curve.json').read_text()) == results
    assert (tmp_path / '_static' / 'active_learning_curve.png').stat().st_size > 1000


def test_fine_tuning_length(tiny, pool):
    learner = _learner(tiny, pool, steps=60)
    # batch 8 (from _learner): 100 labels are 13 batches an epoch
    assert learner._epochs(100) == 5 and learner._epochs(8) == 50    # max_epochs 50
    longer = _learner(tiny, pool, steps=60, steps_per_label=1.3)
    assert longer._epochs(100) == 10          # 130 steps
    assert longer._epochs(10) == 30           # 60 steps at least, 2 batches an epoch
    with pytest.raises(ValueError, match='steps_per_label must be'):
        _learner(tiny, pool, steps_per_label=-1)
