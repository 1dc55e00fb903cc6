# Licensed under a 3-clause BSD style license - see LICENSE.rst

import sys

import numpy as np
import pytest
from astropy.table import MaskedColumn, Table

from starcnet.cli import main
from starcnet.conftest import write_test_scene
from starcnet.io import read_catalog, write_catalog
from starcnet.io.ds9 import CLASS_COLORS

matplotlib = pytest.importorskip('matplotlib')
matplotlib.use('Agg')
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.collections import EllipseCollection  # noqa: E402

from starcnet import visualization as viz  # noqa: E402


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close('all')


@pytest.fixture(scope='module')
def classified():
    """
    A simulated scene, its DAOStarFinder candidates classified with the
    bundled model, and the simulated class of each detection (masked
    where no simulated candidate lies within 2 px).
    """
    from scipy.spatial import cKDTree

    from starcnet import MultiBandImage, StarClusterClassifier, find_candidates
    from starcnet.simulation import make_scene

    bands, truth = make_scene(shape=(256, 256), seed=1)
    image = MultiBandImage(bands)
    sources = find_candidates(image, 'F555W', fwhm=2.5)
    catalog = StarClusterClassifier(device='cpu')(image, sources)
    dist, idx = cKDTree(np.column_stack([truth['x'], truth['y']])).query(
        np.column_stack([catalog['x_centroid'], catalog['y_centroid']]))
    true = np.ma.masked_array(np.asarray(truth['true_class'])[idx], mask=dist > 2)
    return image, catalog, true


def _counts(catalog):
    classes = np.ma.asarray(catalog['cluster_class'])
    counts = {k: int(np.count_nonzero(classes == k)) for k in range(1, 5)}
    counts[None] = int(np.count_nonzero(np.ma.getmaskarray(classes)))
    return counts


def _circles(ax):
    return [c for c in ax.collections if isinstance(c, EllipseCollection)]


def test_plot_rgb(classified, tmp_path):
    image, catalog, _ = classified
    ax = viz.plot_rgb(image, catalog)
    assert len(ax.images) == 1
    rgb = ax.images[0].get_array()
    assert rgb.shape == (256, 256, 3)
    assert ax.get_title() == 'R=F814W  G=F555W  B=F336W'
    assert ax.get_xlabel() == 'x (pixel)'
    circles = _circles(ax)
    assert sum(len(c.get_offsets()) for c in circles) == len(catalog)
    counts = _counts(catalog)
    colors = {matplotlib.colors.to_hex(c.get_edgecolor()[0]): len(c.get_offsets())
              for c in circles}
    for cls, n in counts.items():
        if n:
            assert colors[matplotlib.colors.to_hex(CLASS_COLORS[cls])] == n
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    for k in range(1, 5):
        assert any(t.startswith(f'{k} ') and t.endswith(f'({counts[k]})') for t in legend)
    assert ax.get_legend().get_title().get_text() == f'{len(catalog)} sources'
    if counts[None]:
        assert f'not classified ({counts[None]})' in legend
    ax.figure.savefig(tmp_path / 'rgb.png')
    assert (tmp_path / 'rgb.png').stat().st_size > 10000


def test_plot_rgb_options(classified, tmp_path):
    image, catalog, _ = classified
    x = np.asarray(catalog['x_centroid'])
    y = np.asarray(catalog['y_centroid'])
    region = (50, 150, 60, 200)
    fig, axes = plt.subplots(1, 2)
    ax = viz.plot_rgb(image, catalog, stretch='lupton', region=region, ax=axes[0],
                      legend=False, title='part')
    assert ax is axes[0]
    assert ax.get_legend() is None
    assert ax.get_title() == 'part'
    assert ax.get_xlim() == (49.5, 149.5)
    inside = (x >= 49.5) & (x < 149.5) & (y >= 59.5) & (y < 199.5)
    assert sum(len(c.get_offsets()) for c in _circles(ax)) == inside.sum()
    # a large image is shown decimated, in full-image pixel coordinates
    ax = viz.plot_rgb(image, ax=axes[1], max_pixels=100)
    assert ax.images[0].get_array().shape == (86, 86, 3)
    assert ax.get_xlim() == (-0.5, 255.5)
    assert _circles(ax) == []
    fig.savefig(tmp_path / 'rgb2.png')


def test_plot_rgb_unclassified_sources_and_equivalent_bands(classified):
    image, catalog, _ = classified
    bands = {('F606W' if b == 'F555W' else b): image[b].data for b in image.bands}
    sources = catalog['x_centroid', 'y_centroid']
    ax = viz.plot_rgb(bands, sources)
    assert ax.get_title() == 'R=F814W  G=F606W  B=F336W'
    (circles,) = _circles(ax)
    assert len(circles.get_offsets()) == len(catalog)
    assert [t.get_text() for t in ax.get_legend().get_texts()] == [
        f'candidates ({len(catalog)})']


def test_plot_rgb_errors(classified):
    image, catalog, _ = classified
    with pytest.raises(ValueError, match="stretch must be 'asinh' or 'lupton'"):
        viz.plot_rgb(image, stretch='log')
    with pytest.raises(ValueError, match='three bands'):
        viz.plot_rgb(image, bands=('F814W', 'F555W'))
    with pytest.raises(ValueError, match='no band F658N'):
        viz.plot_rgb(image, bands=('F658N', 'F555W', 'F336W'))
    with pytest.raises(ValueError, match='does not overlap'):
        viz.plot_rgb(image, region=(300, 400, 0, 10))


def test_cutout_gallery(classified, tmp_path):
    image, catalog, _ = classified
    n = 5
    fig = viz.plot_cutout_gallery(image, catalog, n_per_class=n)
    assert len(fig.axes) == 4 * n
    axes = np.array(fig.axes).reshape(4, n)
    counts = _counts(catalog)
    ids = np.asarray(catalog['id'])
    for k in range(1, 5):
        row = axes[k - 1]
        label = row[0].get_ylabel()
        assert label.startswith(f'{k}: ')
        assert label.endswith(f'{counts[k]} sources')
        shown = [ax for ax in row if ax.images]
        assert len(shown) == min(n, counts[k])
        assert shown[0].images[0].get_array().shape == (32, 32, 3)
        # the most probable members, in order, with probability and id
        prob = np.ma.asarray(catalog[f'prob_class{k}'])
        members = np.flatnonzero(np.ma.asarray(catalog['cluster_class']) == k)
        best = members[np.argsort(-prob[members].data, kind='stable')][:n]
        texts = [[t.get_text() for t in ax.texts] for ax in shown]
        assert texts == [[f'{prob[i]:.2f}', f'#{ids[i]}'] for i in best]
    assert 'most probable' in fig._suptitle.get_text()
    fig.savefig(tmp_path / 'gallery.png')
    assert (tmp_path / 'gallery.png').stat().st_size > 10000


def test_cutout_gallery_options(classified, tmp_path):
    image, catalog, _ = classified
    fig = viz.plot_cutout_gallery(image, catalog, n_per_class=3, bands='F555W',
                                  sort='least')
    axes = np.array(fig.axes).reshape(4, 3)
    assert axes[0, 0].images[0].get_array().shape == (32, 32)
    values = [float(ax.texts[0].get_text()) for ax in axes[3] if ax.texts]
    assert values == sorted(values)
    assert 'least probable' in fig._suptitle.get_text()
    fig.savefig(tmp_path / 'grey.png')
    # a class with fewer members than n_per_class leaves blank cells,
    # and a catalog without id columns is numbered by row
    few = catalog.copy()
    few.remove_column('id')
    fig = viz.plot_cutout_gallery(image, few, n_per_class=60, sort='random', seed=2)
    axes = np.array(fig.axes).reshape(4, 60)
    counts = _counts(catalog)
    for k in range(1, 5):
        assert sum(bool(ax.images) for ax in axes[k - 1]) == min(60, counts[k])
    assert axes[0, 0].texts[1].get_text().startswith('#')
    with pytest.raises(ValueError, match='sort must be'):
        viz.plot_cutout_gallery(image, catalog, sort='best')
    with pytest.raises(ValueError, match='one band or three'):
        viz.plot_cutout_gallery(image, catalog, bands=('F555W', 'F814W'))
    with pytest.raises(ValueError, match='positive integer'):
        viz.plot_cutout_gallery(image, catalog, n_per_class=0)
    with pytest.raises(ValueError, match="no 'cluster_class' column"):
        viz.plot_cutout_gallery(image, catalog['x_centroid', 'y_centroid'])


def test_probability_histograms(classified, tmp_path):
    _, catalog, _ = classified
    fig = viz.plot_probability_histograms(catalog, bins=10)
    assert len(fig.axes) == 6
    titles = [ax.get_title() for ax in fig.axes[:5]]
    assert titles == ['class 1: symmetric cluster', 'class 2: asymmetric cluster',
                      'class 3: association', 'class 4: non-cluster',
                      'cluster (class 1 + 2)']
    assert [ax.get_xlabel() for ax in fig.axes[:5]] == [
        'prob_class1', 'prob_class2', 'prob_class3', 'prob_class4', 'prob_cluster']
    counts = _counts(catalog)
    n_classified = len(catalog) - counts[None]
    for ax in fig.axes[:5]:
        # every classified source once per panel (stacked bars)
        heights = np.array([p.get_height() for p in ax.patches]).reshape(4, 10)
        assert heights.sum() == n_classified
        # the bars of a class hold its members
        assert list(heights.sum(axis=1)) == [counts[k] for k in range(1, 5)]
    legend = fig.axes[5].get_legend()
    texts = [t.get_text() for t in legend.get_texts()]
    assert texts == [f'{k} {name} ({counts[k]})' for k, name in
                     zip(range(1, 5), catalog.meta['starcnet']['class_names'])]
    assert f'{counts[None]} not classified' in legend.get_title().get_text()
    fig.savefig(tmp_path / 'hist.png')


def test_confusion_matrix_counts():
    true = np.ma.masked_array([1, 1, 2, 3, 4, 4, 4, 0, 2], mask=[0] * 8 + [1])
    pred = MaskedColumn([1, 2, 2, 3, 4, 1, 4, 1, 3], mask=[0, 0, 0, 0, 0, 0, 1, 0, 0])
    ax = viz.plot_confusion_matrix(true, pred)
    # rows true, columns predicted; masked pairs and class 0 left out
    expected = np.array([[1, 1, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0], [1, 0, 0, 1]])
    texts = {(round(t.get_position()[1]), round(t.get_position()[0])): t.get_text()
             for t in ax.texts}
    for i in range(4):
        for j in range(4):
            assert texts[i, j].split('\n')[0] == str(expected[i, j])
    assert texts[0, 0] == '1\n50%'
    assert texts[1, 1] == '1\n100%'
    assert ax.get_title() == ('accuracy 66.7% (4 classes), 83.3% (cluster 1+2 vs 3+4)'
                              '\n6 sources')
    assert ax.get_xlabel() == 'StarcNet class'
    assert ax.get_ylabel() == 'true class'
    assert [t.get_text() for t in ax.get_xticklabels()][2] == '3\nassociation'
    # the colour is the row fraction
    np.testing.assert_allclose(ax.images[0].get_array()[0], [0.5, 0.5, 0, 0])


def test_confusion_matrix_from_matrix(classified, tmp_path):
    _, catalog, true = classified
    ax = viz.plot_confusion_matrix(true, catalog['cluster_class'])
    n = int(np.count_nonzero(~(np.ma.getmaskarray(true)
                               | np.ma.getmaskarray(catalog['cluster_class']))))
    assert ax.get_title().endswith(f'\n{n} sources')
    ax.figure.savefig(tmp_path / 'confusion.png')
    matrix = np.diag([3, 0, 2, 1])
    ax = viz.plot_confusion_matrix(matrix=matrix, class_names=['a', 'b', 'c', 'd'],
                                   title='mine')
    assert ax.get_title() == 'mine'
    texts = [t.get_text() for t in ax.texts]
    assert texts[0] == '3\n100%'
    assert texts[5] == '0'          # an empty true class has no fraction
    assert [t.get_text() for t in ax.get_yticklabels()] == ['1 a', '2 b', '3 c', '4 d']
    with pytest.raises(ValueError, match='not both'):
        viz.plot_confusion_matrix([1], [1], matrix=matrix)
    with pytest.raises(ValueError, match='give true and pred'):
        viz.plot_confusion_matrix([1, 2])
    with pytest.raises(ValueError, match='must be 4x4'):
        viz.plot_confusion_matrix(matrix=np.eye(3))
    with pytest.raises(ValueError, match='one length'):
        viz.plot_confusion_matrix([1, 2], [1])


def test_no_matplotlib(classified, monkeypatch):
    _, catalog, _ = classified
    monkeypatch.setitem(sys.modules, 'matplotlib.pyplot', None)
    with pytest.raises(ImportError, match='pip install matplotlib'):
        viz.plot_probability_histograms(catalog)


# --- the starcnet plot command ---

@pytest.fixture
def classified_files(tmp_path, tiny_model_path):
    args, sources_path, sources = write_test_scene(tmp_path)
    catalog_path = tmp_path / 'field.ecsv'
    assert main(['-q', 'classify', *args, '--catalog', str(sources_path), '--model',
                 str(tiny_model_path), '-o', str(catalog_path)]) == 0
    catalog = read_catalog(catalog_path)
    catalog['human'] = MaskedColumn((np.arange(len(catalog)) % 4) + 1,
                                    mask=np.arange(len(catalog)) == 0)
    write_catalog(catalog, catalog_path, overwrite=True)
    return args, catalog_path


def test_cli_plot(classified_files, tmp_path, capsys):
    args, catalog_path = classified_files
    capsys.readouterr()
    outdir = tmp_path / 'plots'
    argv = ['plot', *args, '--catalog', str(catalog_path), '--truth-column', 'human',
            '--output-dir', str(outdir), '--n-per-class', '4']
    assert main(argv) == 0
    names = ['field_rgb.png', 'field_gallery.png', 'field_probabilities.png',
             'field_confusion.png']
    out = capsys.readouterr().out.splitlines()
    assert out == [str(outdir / name) for name in names]
    for name in names:
        assert (outdir / name).read_bytes()[:8] == b'\x89PNG\r\n\x1a\n'
    assert plt.get_fignums() == []
    # existing files are kept without --overwrite
    before = (outdir / 'field_rgb.png').read_bytes()
    assert main(argv) == 1
    assert 'already exists; add --overwrite' in capsys.readouterr().err
    assert (outdir / 'field_rgb.png').read_bytes() == before
    assert main([*argv, '--overwrite', '--prefix', 'again']) == 0
    assert (outdir / 'again_gallery.png').exists()


def test_cli_plot_without_images_or_labels(classified_files, tmp_path, capsys):
    _, catalog_path = classified_files
    capsys.readouterr()
    assert main(['plot', '--catalog', str(catalog_path), '-o', str(tmp_path)]) == 0
    captured = capsys.readouterr()
    assert captured.out.splitlines() == [str(tmp_path / 'field_probabilities.png')]
    assert 'no band images given' in captured.err


def test_cli_plot_errors(classified_files, tmp_path, capsys):
    args, catalog_path = classified_files
    capsys.readouterr()
    assert main(['plot', '--catalog', str(catalog_path), '--truth-column', 'nope',
                 '-o', str(tmp_path)]) == 1
    assert "no column 'nope' for --truth-column" in capsys.readouterr().err
    assert main(['plot', '--catalog', str(tmp_path / 'missing.ecsv')]) == 1
    assert 'cannot read the catalog' in capsys.readouterr().err
    sources = tmp_path / 'sources.ecsv'
    assert main(['plot', *args, '--catalog', str(sources), '-o', str(tmp_path)]) == 1
    assert 'no cluster_class column' in capsys.readouterr().err


def test_reliability_diagram(tmp_path):
    from starcnet.metrics import reliability_curve

    proba = [[0.9, 0.1, 0, 0], [0.6, 0.4, 0, 0], [0.95, 0.05, 0, 0], [0.3, 0.3, 0.2, 0.2]]
    true = [1, 2, 1, 3]
    ax = viz.plot_reliability_diagram(proba, true, n_bins=5, title='tiny, tested on hand')
    curve = reliability_curve(proba, true, n_bins=5)
    bars = ax.patches
    heights = [b.get_height() for b in bars]
    # bins with sources only: (0.2, 0.4] 0 right, (0.4, 0.6] 0 right, (0.8, 1] 2 right
    np.testing.assert_allclose(heights, [0, 0, 1])
    line = [ln for ln in ax.lines if ln.get_label().startswith('accuracy at')][0]
    np.testing.assert_allclose(line.get_xdata(), [0.3, 0.6, 0.925])
    assert ax.get_title() == (f'tiny, tested on hand\nECE {curve.meta["ece"]:.3f}, '
                              'accuracy 50.0% (4 sources)')
    count_ax = [a for a in ax.figure.axes if a is not ax][0]
    assert [b.get_height() for b in count_ax.patches] == [0, 1, 1, 0, 2]
    ax.figure.savefig(tmp_path / 'reliability.png')
    # from a curve, on given axes
    fig, own = plt.subplots()
    assert viz.plot_reliability_diagram(curve=curve, ax=own) is own
    assert len(fig.axes) == 1
    # a curve without its meta (read back from a file): the ECE of its bins
    bare = Table({k: curve[k] for k in curve.colnames})
    title = viz.plot_reliability_diagram(curve=bare, ax=plt.subplots()[1]).get_title()
    assert title.startswith(f'ECE {curve.meta["ece"]:.3f}, ')
    with pytest.raises(ValueError, match='not both'):
        viz.plot_reliability_diagram(proba, true, curve=curve)
    with pytest.raises(ValueError, match='give proba and true'):
        viz.plot_reliability_diagram(proba)
    with pytest.raises(ValueError, match='lacks'):
        viz.plot_reliability_diagram(curve=curve['lower', 'upper'])


def test_error_retention_plot(tmp_path):
    from starcnet.metrics import error_retention

    errors = np.array([True, False, True, False, False])
    good = error_retention(errors, [0.9, 0.1, 0.8, 0.2, 0.3])
    bad = error_retention(errors, [0.1, 0.9, 0.2, 0.8, 0.7])
    ax = viz.plot_error_retention({'good': good, 'bad': bad}, at=0.2,
                                  title='tiny, tested on hand')
    lines = {ln.get_label(): ln for ln in ax.lines}
    assert set(lines) >= {'random order', 'best possible order', 'good: 50%', 'bad: 0%'}
    np.testing.assert_allclose(lines['good: 50%'].get_ydata(), good['errors_found'])
    np.testing.assert_allclose(lines['best possible order'].get_ydata(), good['oracle'])
    # one oracle line for curves of the same sources and errors
    assert sum(ln.get_linestyle() == ':' for ln in ax.lines) == 1
    assert ax.get_title() == 'tiny, tested on hand'
    ax.figure.savefig(tmp_path / 'retention.png')
    # a single curve, no marker, no oracle
    ax = viz.plot_error_retention(good, at=None, oracle=False)
    assert [ln.get_label() for ln in ax.lines] == ['random order', 'uncertainty']
    with pytest.raises(ValueError, match='not a starcnet.metrics.error_retention'):
        viz.plot_error_retention({'x': good['fraction', 'random']})
    with pytest.raises(ValueError, match='empty'):
        viz.plot_error_retention({})
    with pytest.raises(ValueError, match='at must be'):
        viz.plot_error_retention(good, at=2)


def test_error_retention_plot_ceiling():
    from starcnet.metrics import calibrated_error_retention, error_retention

    errors = np.array([True, False, True, False, False])
    q = np.array([0.6, 0.1, 0.2, 0.05, 0.05])
    ceiling = calibrated_error_retention(q)
    ax = viz.plot_error_retention({'1 - max p': error_retention(errors, q)}, at=0.2,
                                  ceiling=ceiling)
    lines = {ln.get_label(): ln for ln in ax.lines}
    # 0.6 of an expected 1.0 error in the top 20% (one source of five)
    assert 'ceiling if calibrated: 60%' in lines
    np.testing.assert_allclose(lines['ceiling if calibrated: 60%'].get_ydata(),
                               ceiling['errors_found'])
    assert lines['ceiling if calibrated: 60%'].get_linestyle() == '-.'
    with pytest.raises(ValueError, match='ceiling is not'):
        viz.plot_error_retention({'x': error_retention(errors, q)}, ceiling=q)
