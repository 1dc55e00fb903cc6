# Licensed under a 3-clause BSD style license - see LICENSE.rst

from pathlib import Path

import numpy as np
import pytest
from astropy import units as u
from astropy.coordinates import SkyCoord
from astropy.table import MaskedColumn, QTable, Table
from astropy.utils.data import get_pkg_data_filename

from starcnet.catalogs import read_legus
from starcnet.metrics import (accuracy, binary_accuracy, classification_report,
                              confusion_matrix, confusion_table, match_catalogs,
                              valid_pairs)

SHARED = Path(__file__).resolve().parents[2].parent / 'shared' / 'data'
REFERENCE = SHARED / 'starcnet-reference'
LEGUS_DIR = SHARED / 'legus' / 'catalogs'
needs_shared = pytest.mark.skipif(
    not (REFERENCE.is_dir() and LEGUS_DIR.is_dir()),
    reason='shared StarcNet reference outputs and LEGUS catalogs not present')

UGCA281 = 'hlsp_legus_hst_acs-wfc3_ugca281_multiband_v2_padagb-mwext-avgapcor.tab.gz'

# Published-model confusion matrix for NGC 1566, all 2451 labelled objects
# (rows: human class 1-4, columns: StarcNet class 1-4), computed once from
# output_scores.npy and the catalog's column 34.
NGC1566_CONFUSION = [[402, 25, 1, 49],
                     [108, 106, 34, 156],
                     [13, 43, 177, 459],
                     [39, 16, 28, 795]]


def data_path(name):
    return get_pkg_data_filename(f'data/{name}', package='starcnet.tests')


def total_confusion(path):
    table = Table.read(path, format='ascii.csv')
    return {row['Galaxy']: np.array([row[f'{h}v{p}'] for h in range(1, 5)
                                     for p in range(1, 5)]).reshape(4, 4)
            for row in table}


def expand(matrix):
    """
    (true, pred) label arrays with the given confusion matrix.
    """
    h, p = np.indices(matrix.shape)
    return (np.repeat(h.ravel() + 1, matrix.ravel()),
            np.repeat(p.ravel() + 1, matrix.ravel()))


# --- the metrics on small inputs ----------------------------------------------

def test_confusion_matrix_rows_are_human_class():
    true = [1, 1, 1, 2, 3, 4, 4]
    pred = [1, 2, 4, 2, 3, 4, 1]
    m = confusion_matrix(true, pred)
    assert m.dtype == np.int64
    assert m.tolist() == [[1, 1, 0, 1], [0, 1, 0, 0], [0, 0, 1, 0], [1, 0, 0, 1]]
    # class order follows `classes`
    assert confusion_matrix(true, pred, classes=(4, 3, 2, 1))[0].tolist() == [1, 0, 0, 1]
    table = confusion_table(true, pred)
    assert table.colnames == ['human_class', 'pred_1', 'pred_2', 'pred_3', 'pred_4', 'total']
    assert table['pred_4'].tolist() == [1, 0, 0, 1]
    assert table['total'].tolist() == [3, 1, 1, 2]
    assert table.meta['n_used'] == 7 and table.meta['n_excluded'] == 0


def test_masked_zero_and_nan_are_excluded():
    true = MaskedColumn([1, 2, 0, 4, 3, 3], mask=[False, False, False, False, True, False])
    pred = np.ma.MaskedArray([1, 1, 3, 4, 3, 2], mask=[False, False, False, False, False, True])
    t, p, n = valid_pairs(true, pred)
    assert t.tolist() == [1, 2, 4] and p.tolist() == [1, 1, 4]
    assert n == 3
    assert accuracy(true, pred) == pytest.approx(2 / 3)
    assert binary_accuracy(true, pred) == 1.0
    assert accuracy([1.0, np.nan, 2.0], [1, 1, 1]) == 0.5
    assert np.isnan(accuracy([0, 0], [1, 2]))
    report = classification_report(true, pred)
    assert report.meta['n_excluded'] == 3 and report.meta['n_used'] == 3


def test_binary_split_is_12_vs_34():
    true = [1, 2, 3, 4, 1, 3]
    pred = [2, 1, 4, 3, 3, 1]
    assert accuracy(true, pred) == 0.0
    assert binary_accuracy(true, pred) == pytest.approx(4 / 6)
    assert binary_accuracy(true, pred, cluster_classes=(1,)) == pytest.approx(2 / 6)


def test_classification_report_values():
    true = [1, 1, 1, 1, 2, 2, 3, 4, 4, 4]
    pred = [1, 1, 1, 2, 2, 4, 4, 4, 4, 4]
    report = classification_report(true, pred)
    assert report['class'].tolist() == [1, 2, 3, 4]
    assert report['name'][3] == 'non-cluster'
    assert report['support'].tolist() == [4, 2, 1, 3]
    assert report['n_predicted'].tolist() == [3, 2, 0, 5]
    np.testing.assert_allclose(report['recall'], [0.75, 0.5, 0.0, 1.0])
    # class 3 is never predicted: precision undefined, F1 too
    np.testing.assert_allclose(report['precision'], [1.0, 0.5, np.nan, 0.6])
    np.testing.assert_allclose(report['f1'], [6 / 7, 0.5, np.nan, 0.75])
    assert report.meta['accuracy'] == pytest.approx(0.7)
    assert report.meta['binary_accuracy'] == pytest.approx(0.9)
    assert report.meta['confusion_matrix'][0] == [3, 1, 0, 0]
    # F1 is 0 (not NaN) when recall and precision are both 0
    report = classification_report([1, 2], [2, 1])
    np.testing.assert_array_equal(report['f1'][:2], [0.0, 0.0])


def test_metric_errors():
    with pytest.raises(ValueError, match='same length'):
        accuracy([1, 2], [1])
    with pytest.raises(ValueError, match=r'pred has labels \[5\]'):
        accuracy([1, 2], [1, 5])
    with pytest.raises(ValueError, match=r'true has labels \[-1\]'):
        confusion_matrix([-1, 2], [1, 2])
    with pytest.raises(ValueError, match='integer class labels'):
        accuracy([1.5, 2], [1, 2])
    with pytest.raises(ValueError, match='integer class labels'):
        accuracy(['a', 'b'], [1, 2])


# --- matching -------------------------------------------------------------------

def _pair_tables():
    sky = SkyCoord([10.0, 10.001, 10.002, 10.5], [-5.0, -5.0, -5.0, -5.0], unit='deg')
    reference = QTable({'id': [1, 2, 3, 4], 'x': [100.0, 200.0, 300.0, 400.0],
                        'y': [50.0, 50.0, 50.0, 50.0], 'sky_centroid': sky,
                        'human_class': MaskedColumn([1, 2, 0, 4], mask=[False, False, True,
                                                                        False])})
    classified = QTable({'id': [4, 2, 7], 'x_centroid': [400.3, 200.2, 240.0],
                         'y_centroid': [50.1, 49.9, 50.0],
                         'sky_centroid': sky[[3, 1, 0]].spherical_offsets_by(
                             [0.01, 0.02, 0.5] * u.arcsec, [0, 0, 0] * u.arcsec),
                         'cluster_class': [4, 1, 1]})
    return classified, reference


def test_match_by_id():
    classified, reference = _pair_tables()
    m = match_catalogs(classified, reference)
    assert m['id'].tolist() == [4, 2]
    assert m['id_reference'].tolist() == [4, 2]
    assert m['index_classified'].tolist() == [0, 1]
    assert m['index_reference'].tolist() == [3, 1]
    assert 'sky_centroid_reference' in m.colnames
    assert 'separation' not in m.colnames
    assert m.meta['match'] == {'by': 'id', 'n_classified': 3, 'n_reference': 4,
                               'n_matched': 2}
    assert accuracy(m['human_class'], m['cluster_class']) == 0.5
    # different id column names
    classified.rename_column('id', 'Id')
    m = match_catalogs(classified, reference, id_column=('Id', 'id'))
    assert m['Id'].tolist() == [4, 2]


def test_match_by_sky_and_pixel():
    classified, reference = _pair_tables()
    m = match_catalogs(classified, reference, by='sky')
    assert m['index_reference'].tolist() == [3, 1]
    np.testing.assert_allclose(m['separation'].to_value(u.arcsec), [0.01, 0.02], atol=1e-6)
    m = match_catalogs(classified, reference, by='sky', max_separation=1 * u.arcsec)
    assert m['index_reference'].tolist() == [3, 1, 0]
    m = match_catalogs(classified, reference, by='pixel')
    assert m['index_reference'].tolist() == [3, 1]
    np.testing.assert_allclose(m['separation'], [np.hypot(0.3, 0.1), np.hypot(0.2, 0.1)])
    assert len(match_catalogs(classified, reference, by='pixel', max_separation=0.25)) == 1
    # each reference object is paired once, with the nearest: the third
    # classified object is 40 px from reference 2, which is taken
    m = match_catalogs(classified, reference, by='pixel', max_separation=60 * u.pix)
    assert m['index_reference'].tolist() == [3, 1]
    assert m['index_classified'].tolist() == [0, 1]


def test_match_errors():
    classified, reference = _pair_tables()
    with pytest.raises(ValueError, match="by must be"):
        match_catalogs(classified, reference, by='name')
    with pytest.raises(ValueError, match='must be an angle'):
        match_catalogs(classified, reference, by='sky', max_separation=1.0)
    with pytest.raises(ValueError, match="no column 'ID'"):
        match_catalogs(classified, reference, id_column='ID')
    reference['id'][1] = 4
    with pytest.raises(ValueError, match=r'not unique \(e.g. \[4\]\)'):
        match_catalogs(classified, reference)
    del reference['x']
    with pytest.raises(ValueError, match='reference table has no pixel positions'):
        match_catalogs(classified, reference, by='pixel')


# --- the published model's agreement, from the package's test data -------------

def test_ngc1566_published_agreement():
    """
    The published StarcNet on NGC 1566: 60.4% 4-class and 85.7% binary
    agreement over the 2451 labelled objects, matched by object id.
    """
    logits = np.load(data_path('ngc1566_output_scores.npy'))
    assert logits.shape == (2752, 4)
    human = Table.read(data_path('ngc1566_human_class.ecsv'))
    human['human_class'] = MaskedColumn(human['human_class'],
                                        mask=human['human_class'] == 0)
    # scores are in catalog row order: give them the catalog ids
    out = QTable({'id': human['id'], 'cluster_class': np.argmax(logits, axis=1) + 1})
    m = match_catalogs(out, human)
    assert len(m) == 2752
    report = classification_report(m['human_class'], m['cluster_class'])
    assert report.meta['n_used'] == 2451
    assert report.meta['n_excluded'] == 301
    assert round(100 * report.meta['accuracy'], 1) == 60.4
    assert round(100 * report.meta['binary_accuracy'], 1) == 85.7
    assert report.meta['confusion_matrix'] == NGC1566_CONFUSION
    assert report['support'].tolist() == [477, 404, 692, 878]


def test_ugca281_confusion_matches_total_csv():
    """
    The published model's UGCA 281 predictions against the catalog's
    human classes reproduce its row of total.csv.
    """
    legus = read_legus(data_path(UGCA281))
    pred = Table.read(data_path('ugca281_predictions.csv'), format='ascii.csv')
    m = match_catalogs(pred, legus, id_column=('Id', 'id'))
    assert len(m) == 327
    matrix = confusion_matrix(m['human_class'], m['Prediction'])
    expected = total_confusion(data_path('starcnet_confusion_total.csv'))['ugca281']
    np.testing.assert_array_equal(matrix, expected)


def test_total_csv_pooled():
    """
    The 24 rows of total.csv pooled: 5336 objects, 61.9% and 80.8%.
    """
    totals = total_confusion(data_path('starcnet_confusion_total.csv'))
    assert len(totals) == 24
    true, pred = expand(sum(totals.values()))
    assert true.size == 5336
    assert round(100 * accuracy(true, pred), 1) == 61.9
    assert round(100 * binary_accuracy(true, pred), 1) == 80.8


# --- the same on the shared reference data, where present ----------------------

def _legus(galaxy):
    (path,) = LEGUS_DIR.glob(f'hlsp_legus_hst_*_{galaxy}_multiband_*.tab')
    return read_legus(path)


def _reference_tab(path):
    """
    The original code's output .tab: id, x, y, class, [p1 - p2 - p3 - p4].
    """
    rows = [line.split('\t') for line in path.read_text().splitlines() if line.strip()]
    return Table({'id': [int(r[0]) for r in rows],
                  'x': [float(r[1]) for r in rows],
                  'y': [float(r[2]) for r in rows],
                  'cluster_class': [int(r[3]) for r in rows]})


@needs_shared
def test_shared_ngc1566_outputs_agree():
    legus = _legus('ngc1566')
    logits = np.load(REFERENCE / 'ngc1566' / 'output_scores.npy')
    pred = Table.read(REFERENCE / 'ngc1566' / 'output_predictions.csv', format='ascii.csv')
    tab = _reference_tab(REFERENCE / 'ngc1566' / 'output_ngc1566.tab')
    assert pred['Id'].tolist() == legus['id'].tolist() == tab['id'].tolist()
    assert pred['Prediction'].tolist() == (np.argmax(logits, axis=1) + 1).tolist()
    assert tab['cluster_class'].tolist() == pred['Prediction'].tolist()
    m = match_catalogs(pred, legus, id_column=('Id', 'id'))
    report = classification_report(m['human_class'], m['Prediction'])
    assert report.meta['n_used'] == 2451
    assert report.meta['confusion_matrix'] == NGC1566_CONFUSION
    # sky and pixel matching of a StarcNet-like table pair the same objects
    out = QTable({'x': legus['x'], 'y': legus['y'], 'sky_centroid': legus['sky_centroid'],
                  'cluster_class': pred['Prediction']})
    for by in ('sky', 'pixel'):
        m = match_catalogs(out, legus, by=by)
        assert len(m) == 2752
        assert (m['index_classified'] == m['index_reference']).all()


@needs_shared
@pytest.mark.parametrize('galaxy, source', [
    ('ngc3344', 'predictions'), ('ngc3344', 'scores'), ('ngc3344', 'tab'),
    ('ugca281', 'scores'), ('ngc6503', 'tab'), ('eso486-g021', 'tab')])
def test_shared_total_csv_rows(galaxy, source):
    """
    Confusion matrices of total.csv from every prediction file that has one.
    """
    other = REFERENCE / 'other-galaxies'
    legus = _legus(galaxy)
    if source == 'predictions':
        pred = Table.read(other / f'predictions_{galaxy}.csv', format='ascii.csv')
        pred.rename_columns(['Id', 'Prediction'], ['id', 'cluster_class'])
    elif source == 'scores':
        logits = np.load(other / f'scores_{galaxy}.npy')
        pred = Table({'id': legus['id'], 'cluster_class': np.argmax(logits, axis=1) + 1})
    else:
        pred = _reference_tab(other / f'{galaxy}.tab')
    m = match_catalogs(pred, legus)
    assert len(m) == len(legus)
    matrix = confusion_matrix(m['human_class'], m['cluster_class'])
    np.testing.assert_array_equal(matrix, total_confusion(other / 'total.csv')[galaxy])


def test_reliability_curve_counts_and_ece():
    from starcnet.metrics import expected_calibration_error, reliability_curve
    rng = np.random.default_rng(0)
    n = 4000
    true = rng.integers(1, 5, n)
    # calibrated by construction: the top class is right with probability conf
    conf = rng.uniform(0.3, 1.0, n)
    right = rng.uniform(size=n) < conf
    pred = np.where(right, true, (true % 4) + 1)
    proba = np.full((n, 4), 0.0)
    proba[np.arange(n), pred - 1] = conf
    for k in range(4):
        proba[:, k] += np.where(pred - 1 == k, 0, (1 - conf) / 3)
    curve = reliability_curve(proba, true, n_bins=10)
    assert curve['count'].sum() == n
    assert curve.meta['ece'] < 0.03
    # over-confident: same predictions, claimed 0.99
    sharp = np.full((n, 4), 0.01 / 3)
    sharp[np.arange(n), pred - 1] = 0.99
    ece = expected_calibration_error(sharp, true)
    assert ece == pytest.approx(0.99 - right.mean(), abs=1e-9)
    # masked and 0 labels and NaN rows are left out
    true2 = np.ma.masked_array(true, mask=np.arange(n) < 10)
    true2[10:20] = 0
    proba[20:30] = np.nan
    assert reliability_curve(proba, true2).meta['n_excluded'] == 30
    with pytest.raises(ValueError, match='shape'):
        reliability_curve(proba[:, :3], true)
    with pytest.raises(ValueError, match='n_bins'):
        reliability_curve(proba, true, n_bins=0)
