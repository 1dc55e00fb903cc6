# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""
scripts/error_retention.py (only from a source checkout): its figures
are those of `starcnet.metrics.errors_in_top`, and one small run writes
the table, the JSON and the figure.
"""

import json
import sys
from pathlib import Path

import numpy as np
import pytest

SCRIPTS = Path(__file__).resolve().parents[2] / 'scripts'
pytestmark = pytest.mark.skipif(not (SCRIPTS / 'error_retention.py').exists(),
                                reason='needs the source checkout')


@pytest.fixture(scope='module')
def script():
    sys.path.insert(0, str(SCRIPTS))
    try:
        import error_retention
        yield error_retention
    finally:
        sys.path.remove(str(SCRIPTS))


def test_evaluate_matches_the_library(script, monkeypatch):
    from starcnet.metrics import errors_in_top
    from starcnet.models import uncertainty as unc

    monkeypatch.setattr(script, 'BOOTSTRAP', 20)
    rng = np.random.default_rng(1)
    labels = rng.integers(1, 5, 300)
    samples = rng.dirichlet(np.ones(4) * 0.7, (5, 300))
    proba = samples[0]
    r = script.evaluate(proba, samples, labels)
    mc_pred = unc.mean_proba(samples).argmax(1) + 1
    det_pred = proba.argmax(1) + 1
    assert r['accuracy'] == {'deterministic': np.mean(det_pred == labels),
                             'mc': np.mean(mc_pred == labels)}
    entropy = r['measures']['entropy']['4-class']
    assert entropy['errors_in_top'] == pytest.approx(
        errors_in_top(mc_pred != labels, unc.predictive_entropy(samples)))
    binary = r['measures']['one_minus_max_p']['binary']
    errors = (det_pred <= 2) != (labels <= 2)
    assert binary['errors_in_top'] == pytest.approx(
        errors_in_top(errors, 1 - proba.max(1)))
    assert binary['best_possible'] == pytest.approx(min(60 / errors.sum(), 1))
    assert binary['ratio_to_best'] == pytest.approx(binary['errors_in_top']
                                                    / binary['best_possible'])
    low, high = binary['interval_68']
    assert low <= high and 0 <= low and high <= 1
    table = script.format_table({'kingsim': r})
    line = [ln for ln in table.splitlines() if ln.startswith('predictive entropy')][0]
    assert f'{100 * entropy["errors_in_top"]:.1f}%' in line
    # the ceiling of calibrated probabilities: expected binary errors of the
    # 60 sources nearest the boundary over all the expected binary errors
    p_cl = proba[:, :2].sum(1)
    q = np.sort(np.minimum(p_cl, 1 - p_cl))[::-1]
    ceiling = r['calibrated_ceiling']['binary']
    assert ceiling['errors_in_top'] == pytest.approx(q[:60].sum() / q.sum())
    assert ceiling['expected_error_rate'] == pytest.approx(q.mean())
    assert r['calibrated_ceiling']['4-class']['errors_in_top'] == pytest.approx(
        np.sort(1 - proba.max(1))[::-1][:60].sum() / (1 - proba.max(1)).sum())
    line = [ln for ln in table.splitlines() if ln.startswith('ceiling if calibrated')][0]
    assert f'{100 * ceiling["errors_in_top"]:.1f}%' in line


def test_small_run(script, tmp_path, monkeypatch):
    monkeypatch.setattr(script, 'BOOTSTRAP', 5)
    out = tmp_path / 'docs'
    out.mkdir()
    assert script.main(['--model', 'sim-small-v2', '--generators', 'kingsim',
                        '--n-per-class', '3', '--n-samples', '2', '--workers', '1',
                        '--threads', '1', '--work-dir', str(tmp_path / 'w'),
                        '--output-dir', str(out)]) == 0
    table = (out / 'error_retention_table.inc').read_text()
    assert 'trained on starcnet.simulation' in table and 'kingsim (seed 7002)' in table
    data = json.loads((out / 'error_retention.json').read_text())
    assert data['trained_on'] == 'starcnet.simulation' and data['tested_on'] == ['kingsim']
    assert data['results']['kingsim']['measures']['entropy']['4-class']['n'] == 12
    assert (out / '_static' / 'error_retention_sim-small-v2.png').stat().st_size > 10000
    # the samples are cached and reused
    assert len(list((tmp_path / 'w' / 'error_retention').glob('*.npz'))) == 1
