# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""
Uncertainty from sampled probabilities, the energy OOD score, Monte Carlo
dropout in the Predictor and the ``ood`` entry of model metadata.
"""

import dataclasses
import math

import numpy as np
import pytest
import torch

from starcnet.legus import CLASS_NAMES
from starcnet.models import ModelInfo, Predictor, StarcNet
from starcnet.models import uncertainty as unc
from starcnet.models.schema import check_ood, validate_metadata

LOG2 = math.log(2)
OOD = {'kind': 'energy', 'threshold': -3.5, 'quantile': 0.99,
       'fitted_on': 'test cutouts', 'n_cutouts': 40}


# -- the numpy functions, on hand-computed cases -------------------------------

def test_identical_samples():
    p = np.array([[0.7, 0.1, 0.1, 0.1], [0.25, 0.25, 0.25, 0.25]])
    samples = np.stack([p] * 5)
    s = unc.uncertainty_summary(samples)
    np.testing.assert_allclose(s['mean'], p)
    np.testing.assert_array_equal(s['std'], 0)
    np.testing.assert_allclose(s['mutual_information'], 0, atol=1e-15)
    np.testing.assert_array_equal(s['class_quality'], 1)
    h = -(0.7 * np.log(0.7) + 3 * 0.1 * np.log(0.1))
    np.testing.assert_allclose(s['entropy'], [h, np.log(4)])
    np.testing.assert_allclose(s['expected_entropy'], [h, np.log(4)])


def test_opposite_one_hot_samples():
    samples = np.array([[[1.0, 0.0]], [[0.0, 1.0]]])
    np.testing.assert_allclose(unc.mutual_information(samples), [LOG2])
    np.testing.assert_allclose(unc.predictive_entropy(samples), [LOG2])
    np.testing.assert_allclose(unc.expected_entropy(samples), [0.0])
    np.testing.assert_allclose(unc.proba_std(samples), [[0.5, 0.5]])
    np.testing.assert_allclose(unc.mean_proba(samples), [[0.5, 0.5]])


def test_class_quality_counts_agreeing_samples():
    # four samples: three say class 0, one says class 1; mean says class 0
    samples = np.array([[[0.9, 0.1]], [[0.8, 0.2]], [[0.6, 0.4]], [[0.2, 0.8]]])
    np.testing.assert_allclose(unc.class_quality(samples), [0.75])
    # the functions agree with the summary
    s = unc.uncertainty_summary(samples)
    for key, function in [('mean', unc.mean_proba), ('std', unc.proba_std),
                          ('entropy', unc.predictive_entropy),
                          ('expected_entropy', unc.expected_entropy),
                          ('mutual_information', unc.mutual_information),
                          ('class_quality', unc.class_quality)]:
        np.testing.assert_allclose(s[key], function(samples))


def test_nonfinite_sources_are_nan():
    samples = np.array([[[0.5, 0.5], [np.nan, np.nan]], [[0.4, 0.6], [0.1, 0.9]]])
    s = unc.uncertainty_summary(samples)
    for key, value in s.items():
        assert np.all(np.isnan(value[1])), key
        assert np.all(np.isfinite(value[0])), key


def test_bad_sample_shapes():
    with pytest.raises(ValueError, match=r'shape \(S, N, C\)'):
        unc.mutual_information(np.ones((3, 4)))
    with pytest.raises(ValueError, match=r'shape \(S, N, C\)'):
        unc.class_quality(np.ones((2, 3, 1)))


def test_energy_score():
    np.testing.assert_allclose(unc.energy_score([[0.0, 0.0]]), [-LOG2])
    # -T log sum exp(f / T), by hand
    f = np.array([[1.0, 2.0, 3.0]])
    expected = -2.0 * np.log(np.exp(f / 2.0).sum())
    np.testing.assert_allclose(unc.energy_score(f, temperature=2.0), [expected])
    # large logits, no overflow; a confident source scores lower (less OOD)
    big = unc.energy_score([[1000.0, 0.0], [1.0, 1.0]])
    np.testing.assert_allclose(big[0], -1000.0)
    assert big[0] < big[1]
    assert np.isnan(unc.energy_score([[np.inf, 0.0]])[0])
    with pytest.raises(ValueError, match='temperature'):
        unc.energy_score(f, temperature=0)


def test_ood_flags_sign():
    scores = np.array([-10.0, -3.5, -1.0, np.nan])
    np.testing.assert_array_equal(unc.ood_flags(scores, OOD), [False, False, True, False])


# -- the ood metadata entry ------------------------------------------------------

def test_check_ood():
    assert check_ood(OOD) == OOD
    assert 'n_cutouts' not in check_ood({k: v for k, v in OOD.items() if k != 'n_cutouts'})
    for bad, match in [({**OOD, 'kind': 'mahalanobis'}, "lacks \\['features'\\]"),
                       ({**OOD, 'kind': 'knn'}, 'kind must be one of'),
                       ({**OOD, 'threshold': float('nan')}, 'threshold'),
                       ({**OOD, 'threshold': True}, 'threshold'),
                       ({**OOD, 'quantile': 1.0}, 'quantile'),
                       ({**OOD, 'fitted_on': 3}, 'fitted_on'),
                       ({**OOD, 'n_cutouts': 0}, 'n_cutouts'),
                       ({**OOD, 'extra': 1}, 'unknown keys'),
                       ({'kind': 'energy'}, 'lacks'),
                       ([1, 2], 'must be a dict')]:
        with pytest.raises(ValueError, match=match):
            check_ood(bad, 'here')


def _info(**kwargs):
    fields = dict(name='m', description='d', kind='file', filename='m.safetensors',
                  config=dict(StarcNet(width=8).config), bands=('F275W', 'F336W', 'F438W',
                                                                'F555W', 'F814W'),
                  normalization={'kind': 'asinh', 'offset': [0.0] * 5, 'scale': [0.1] * 5},
                  classes=dict(CLASS_NAMES))
    fields.update(kwargs)
    return ModelInfo(**fields)


def test_ood_round_trip():
    info = _info(ood=OOD)
    meta = info.to_metadata()
    assert meta['ood'] == OOD
    back = ModelInfo.from_metadata(meta, kind='file', filename='m.safetensors')
    assert back == info
    # a model without it writes no key, and reads back with None
    plain = _info().to_metadata()
    assert 'ood' not in plain
    assert ModelInfo.from_metadata(plain, filename='m.safetensors').ood is None
    with pytest.raises(ValueError, match='metadata "ood" quantile'):
        validate_metadata({**plain, 'ood': {**OOD, 'quantile': 2}})
    with pytest.raises(ValueError, match="ModelInfo 'm': ood kind"):
        _info(ood={**OOD, 'kind': 'x'})


def test_ood_saved_and_loaded(tmp_path):
    from starcnet.models import load_model, save_model

    module = StarcNet(width=8)
    path = tmp_path / 'm.safetensors'
    save_model(module, path, _info(ood=OOD).to_metadata())
    _, info = load_model(path)
    assert info.ood == OOD


# -- Monte Carlo dropout in the Predictor ----------------------------------------

def _predictor(dropout=0.5, width=8, seed=0):
    torch.manual_seed(seed)
    network = StarcNet(width=width, dropout=dropout).eval()
    return Predictor(network, {'kind': 'asinh', 'offset': [0.0] * 5, 'scale': [0.1] * 5},
                     temperature=1.5)


@pytest.fixture(scope='module')
def cutouts():
    rng = np.random.default_rng(1)
    return rng.normal(0.1, 0.5, (12, 5, 32, 32)).astype(np.float32)


def test_sample_proba_shape_seed_and_state(cutouts):
    predictor = _predictor()
    predictor.batch_size = 5            # several network batches
    state = torch.random.get_rng_state()
    a = predictor.sample_proba(cutouts, n_samples=6, seed=3)
    assert torch.equal(state, torch.random.get_rng_state())   # caller's RNG untouched
    assert a.shape == (6, 12, 4) and a.dtype == np.float32
    np.testing.assert_allclose(a.sum(axis=2), 1, rtol=1e-5)
    b = predictor.sample_proba(cutouts, n_samples=6, seed=3)
    np.testing.assert_array_equal(a, b)                       # one seed, one answer
    c = predictor.sample_proba(cutouts, n_samples=6, seed=4)
    assert not np.array_equal(a, c)                           # another seed differs
    # the samples differ from one another (dropout is on) ...
    assert np.ptp(a, axis=0).max() > 1e-3
    # ... and only the dropout layers were switched, then put back
    assert not any(m.training for m in predictor.network.modules())
    np.testing.assert_array_equal(predictor.proba(cutouts), predictor.proba(cutouts))


def test_own_network_never_switched(cutouts):
    """Sampling runs on a copy: the predictor's network stays in eval mode."""
    from starcnet.models.inference import _sampling_network

    predictor = _predictor()
    seen = []

    def spy(module, args, output):
        # the copies carry this hook too: record which module ran
        seen.append((module is predictor.network,
                     any(m.training for m in predictor.network.modules())))

    handle = predictor.network.register_forward_hook(spy)
    try:
        plain = predictor.proba(cutouts)
        before = [own for own, _ in seen].count(True)
        predictor.sample_proba(cutouts[:2], n_samples=2)
        assert [own for own, _ in seen].count(True) == before   # sampling did not use it
        np.testing.assert_array_equal(predictor.proba(cutouts), plain)
    finally:
        handle.remove()
    assert seen and not any(training for _, training in seen)
    copy = _sampling_network(predictor.network, torch.Generator())
    assert len([m for m in copy.modules() if type(m).__name__ == 'SampledDropout']) == 3
    assert not any(isinstance(m, torch.nn.Dropout) for m in copy.modules())
    assert len([m for m in predictor.network.modules()
                if isinstance(m, torch.nn.Dropout)]) == 3


def test_sampling_and_plain_calls_from_threads(cutouts):
    """Plain calls in other threads give their answer while sampling runs."""
    from concurrent.futures import ThreadPoolExecutor

    predictor = _predictor()
    plain = predictor.proba(cutouts)
    sampled = predictor.sample_proba(cutouts, n_samples=4, seed=2)
    with ThreadPoolExecutor(4) as pool:
        jobs = [pool.submit(predictor.sample_proba, cutouts, n_samples=4, seed=2)
                if k % 2 else pool.submit(predictor.proba, cutouts) for k in range(8)]
        results = [job.result() for job in jobs]
    for k, result in enumerate(results):
        np.testing.assert_array_equal(result, sampled if k % 2 else plain)


def test_network_untouched_on_error(cutouts):
    predictor = _predictor()

    def fail(module, args):
        raise RuntimeError('boom')

    handle = predictor.network.register_forward_pre_hook(fail)   # copied too
    try:
        with pytest.raises(RuntimeError, match='boom'):
            predictor.sample_proba(cutouts, n_samples=2)
    finally:
        handle.remove()
    assert not any(m.training for m in predictor.network.modules())
    assert len([m for m in predictor.network.modules()
                if isinstance(m, torch.nn.Dropout)]) == 3


def test_no_cutouts():
    predictor = _predictor()
    empty = np.zeros((0, 5, 32, 32), np.float32)
    assert predictor.sample_proba(empty, n_samples=3).shape == (3, 0, 4)


def test_nonfinite_output_is_nan_in_every_sample(cutouts):
    predictor = _predictor()
    x = cutouts[:3].copy()
    x[1] = 3e38                    # overflows the network: NaN, not a class
    samples = predictor.sample_proba(x, n_samples=3)
    assert np.isnan(samples[:, 1]).all()
    assert np.isfinite(samples[:, [0, 2]]).all()


def test_temperature_applied(cutouts):
    predictor = _predictor()
    logits = predictor.sample_logits(cutouts, n_samples=3, seed=1)
    predictor.temperature = 1.0
    raw = predictor.sample_logits(cutouts, n_samples=3, seed=1)
    np.testing.assert_allclose(logits * 1.5, raw, rtol=1e-5, atol=1e-6)


def test_negligible_dropout_gives_identical_samples(cutouts):
    # p so small that nothing is dropped and 1 / (1 - p) rounds to 1:
    # every sample is the deterministic output, MI 0 and quality 1
    predictor = _predictor(dropout=1e-12)
    samples = predictor.sample_proba(cutouts, n_samples=4, seed=0)
    for s in samples:
        np.testing.assert_allclose(s, predictor.proba(cutouts), rtol=1e-6, atol=1e-7)
    summary = unc.uncertainty_summary(samples)
    np.testing.assert_allclose(summary['mutual_information'], 0, atol=1e-6)
    np.testing.assert_array_equal(summary['class_quality'], 1)
    np.testing.assert_allclose(summary['std'], 0, atol=1e-6)


def test_no_dropout_is_an_error(cutouts):
    predictor = _predictor(dropout=0.0)
    with pytest.raises(ValueError, match='needs a network with dropout'):
        predictor.sample_proba(cutouts, n_samples=4)
    predictor = _predictor()
    for bad in (0, -1, 2.5, True):
        with pytest.raises(ValueError, match='n_samples'):
            predictor.sample_proba(cutouts, n_samples=bad)
    with pytest.raises(TypeError, match='seed'):
        predictor.sample_proba(cutouts, seed='a')


def test_published_network_has_dropout():
    # the network legus-2021 is loaded into (its registry config): Dropout(0.5)
    # after each of the three branches
    from starcnet.models import get_model_info

    config = get_model_info('legus-2021').config
    predictor = Predictor(StarcNet(**config).eval(),
                          {'kind': 'affine', 'offset': [0.0] * 5, 'scale': [1.0] * 5})
    layers = predictor.dropout_layers()
    assert len(layers) == 3 and all(layer.p == 0.5 for layer in layers)


def test_fit_ood_threshold(cutouts):
    predictor = _predictor()
    ood = unc.fit_ood_threshold(predictor, cutouts, quantile=0.5, fitted_on='noise')
    scores = unc.energy_score(predictor.logits(cutouts))
    assert ood['threshold'] == pytest.approx(np.median(scores))
    assert ood == check_ood(ood)
    assert ood['n_cutouts'] == 12 and ood['fitted_on'] == 'noise'
    # half the in-distribution cutouts pass a median threshold
    assert unc.ood_flags(scores, ood).sum() == 6
    with pytest.raises(ValueError, match='quantile'):
        unc.fit_ood_threshold(predictor, cutouts, quantile=1)
    with pytest.raises(TypeError, match='Predictor'):
        unc.fit_ood_threshold(object(), cutouts)
    # a classifier-like object (with .predictor) works too
    holder = dataclasses.make_dataclass('H', ['predictor'])(predictor)
    assert unc.fit_ood_threshold(holder, cutouts, quantile=0.5, fitted_on='noise') == ood


# --- review_priority -----------------------------------------------------------

def test_review_priority_formula_by_hand():
    from starcnet import CutoutFlag
    proba = [[0.25, 0.25, 0.25, 0.25],       # u = 1, b = 1
             [1.0, 0.0, 0.0, 0.0],           # u = 0, b = 0
             [0.0, 0.0, 0.0, 1.0],           # u = 0, b = 0
             [0.5, 0.5, 0.0, 0.0],           # u = 1/2, b = 0
             [0.5, 0.0, 0.5, 0.0]]           # u = 1/2, b = 1
    np.testing.assert_allclose(unc.review_priority(proba), [1, 0, 0, 0.25, 0.75],
                               atol=1e-12)
    flags = [0, CutoutFlag.OUT_OF_DISTRIBUTION, CutoutFlag.MISSING_BAND,
             CutoutFlag.OUT_OF_DISTRIBUTION | CutoutFlag.EDGE,
             CutoutFlag.UNCLASSIFIED]          # weight 0
    np.testing.assert_allclose(unc.review_priority(proba, flags),
                               [1, 0.5, 0.25, 1 - 0.75 * 0.5 * 0.75, 0.75], atol=1e-12)


def test_review_priority_ranks_the_boundary_first():
    p = unc.review_priority([[0.49, 0, 0, 0.51], [0.97, 0.01, 0.01, 0.01]])
    assert p[0] > p[1]
    assert p[0] == pytest.approx((math.log(2) / math.log(4)
                                  - (0.49 * math.log(0.49 / 0.5) + 0.51 * math.log(0.51 / 0.5))
                                  / math.log(4) + 0.98) / 2)


def test_review_priority_orders_sources_by_doubt():
    """Neither constant nor random: it falls as a source gets surer."""
    rng = np.random.default_rng(3)
    top = np.linspace(0.25, 1.0, 40)          # top-class probability rising
    proba = np.empty((40, 4))
    for i, t in enumerate(top):
        rest = (1 - t) / 3
        proba[i] = [rest, rest, rest, rest]
        proba[i, rng.integers(4)] = t
    priority = unc.review_priority(proba)
    assert np.all(np.diff(priority) < 0)
    assert priority[0] == pytest.approx(1.0) and priority[-1] == pytest.approx(0.0)
    # along the cluster / non-cluster split at fixed entropy: nearer 0.5 first
    split = unc.review_priority([[0.6, 0, 0.4, 0], [0.6, 0.4, 0, 0], [0.4, 0, 0, 0.6]])
    assert split[0] == pytest.approx(split[2]) and split[0] > split[1]


def test_review_priority_flags_raise_it():
    from starcnet import CutoutFlag
    proba = np.random.default_rng(0).dirichlet(np.ones(4), 200)
    plain = unc.review_priority(proba)
    ood = unc.review_priority(proba, np.full(200, int(CutoutFlag.OUT_OF_DISTRIBUTION)))
    edge = unc.review_priority(proba, np.full(200, int(CutoutFlag.EDGE)))
    assert np.all((0 <= plain) & (plain <= 1)) and plain.std() > 0.05
    assert np.all(ood >= 0.5) and np.all(ood >= edge) and np.all(edge >= plain)
    assert np.all(ood[plain < 1] > plain[plain < 1])
    # the ranking among sources with the same flags is kept
    np.testing.assert_array_equal(np.argsort(ood), np.argsort(plain))


def test_review_priority_nan_rows_and_bad_input():
    p = unc.review_priority([[np.nan] * 4, [0.7, 0.1, 0.1, 0.1]])
    assert np.isnan(p[0]) and 0 < p[1] < 1
    assert unc.review_priority(np.zeros((0, 4))).shape == (0,)
    with pytest.raises(ValueError, match=r'shape \(N, C\)'):
        unc.review_priority([0.5, 0.5])
    with pytest.raises(ValueError, match='flags must be 1 integer'):
        unc.review_priority([[0.5, 0.5, 0, 0]], [0.5])
    with pytest.raises(ValueError, match='flags must be 1 integer'):
        unc.review_priority([[0.5, 0.5, 0, 0]], [1, 2])
    with pytest.raises(ValueError, match='cluster_classes'):
        unc.review_priority([[0.5, 0.5, 0, 0]], cluster_classes=(0, 4))
    # two classes, cluster the first: u = b there
    np.testing.assert_allclose(unc.review_priority([[0.5, 0.5], [1, 0]], cluster_classes=[0]),
                               [1, 0], atol=1e-12)
