# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""
Bad inputs that gave a traceback or a silent answer (issue 13): huge
positions, empty images, input columns named like output columns, a
sky column that contradicts the positions, band names that contradict
the files.
"""

import os

import numpy as np
import pytest
from astropy.table import QTable

from starcnet import CutoutFlag, MultiBandImage, StarClusterClassifier
from starcnet.conftest import STARCNET_BANDS, make_test_scene
from starcnet.cutouts import cutout_origin, extract_cutouts

OUT = CutoutFlag.OUTSIDE | CutoutFlag.UNCLASSIFIED


@pytest.fixture(scope='module')
def clf(tiny_model_path):
    return StarClusterClassifier(tiny_model_path, device='cpu')


def test_positions_beyond_int64_are_outside(clf):
    bands, _ = make_test_scene()
    huge = [9.2e18, -9.3e18, 1e19, 3e38, 1e300]
    sources = QTable({'x': huge + [50.0] * 5 + [60.0],
                      'y': [50.0] * 5 + huge + [60.0]})
    catalog = clf(bands, sources)
    flags = np.asarray(catalog['starcnet_flags'])
    assert np.all(flags[:10] & OUT == OUT)
    assert catalog['cluster_class'].mask[:10].all()
    assert not catalog['cluster_class'].mask[10]


def test_cutout_origin_clips():
    ix, iy = cutout_origin([1e19, -1e300, np.nan, np.inf, 10.5], [0.0] * 5)
    assert ix.dtype == np.int64
    assert ix[0] > 2 ** 50 and ix[1] < -2 ** 50 and ix[2] > 2 ** 50 and ix[3] > 2 ** 50
    assert ix[4] == 10 - 15


def test_extract_cutouts_nonfinite_positions_are_outside():
    arrays = [np.ones((40, 40), np.float32)] * 5
    _, flags = extract_cutouts(arrays, [np.nan, np.inf, 20.0], [20.0, 20.0, -np.inf])
    assert np.all(flags & OUT == OUT)


def test_nonfinite_positions_still_an_error(clf):
    bands, _ = make_test_scene()
    with pytest.raises(ValueError, match='not finite'):
        clf(bands, QTable({'x': [np.nan, 50.0], 'y': [50.0, np.inf]}))


def test_empty_image_is_a_clear_error(clf):
    empty = {band: np.zeros((0, 0), np.float32) for band in STARCNET_BANDS}
    with pytest.raises(ValueError, match='no pixels'):
        MultiBandImage(empty)
    with pytest.raises(ValueError, match='at least one pixel'):
        extract_cutouts(list(empty.values()), [0.0], [0.0])
    with pytest.raises(ValueError, match='no pixels'):
        clf(empty, QTable({'x': [0.0], 'y': [0.0]}))


def test_input_columns_named_like_outputs_are_renamed(clf):
    from starcnet.exceptions import StarcnetWarning

    bands, sources = make_test_scene()
    sources['cluster_class'] = np.arange(len(sources)) % 4 + 1
    sources['prob_class1'] = 0.25
    sources['starcnet_flags'] = 99
    sources['input_prob_class1'] = 'taken'
    reference = clf(bands, make_test_scene()[1])
    with pytest.warns(StarcnetWarning, match="'cluster_class' -> 'input_cluster_class'"):
        catalog = clf(bands, sources)
    assert list(catalog['input_cluster_class']) == list(sources['cluster_class'])
    assert np.all(catalog['input_input_prob_class1'] == 0.25)
    assert np.all(catalog['input_prob_class1'] == 'taken')
    assert np.all(catalog['input_starcnet_flags'] == 99)
    for name in ('cluster_class', 'prob_class1', 'starcnet_flags'):
        assert np.array_equal(catalog[name], reference[name])


def _with_wcs(bands):
    from starcnet.simulation.demo import demo_wcs

    return MultiBandImage(bands, wcs=demo_wcs(240))


def test_input_sky_centroid_checked_against_positions(clf):
    from starcnet.exceptions import StarcnetWarning

    bands, sources = make_test_scene()
    image = _with_wcs(bands)
    wcs = image.wcs
    good = wcs.pixel_to_world(sources['x'] + 0.1, sources['y'])
    sources['sky_centroid'] = good
    catalog = clf(image, sources)            # agrees within 0.5 px: kept, no warning
    assert 'input_sky_centroid' not in catalog.colnames
    assert np.all(catalog['sky_centroid'].separation(good).arcsec < 1e-6)
    # one source 3 px away: renamed, sky_centroid from x/y
    bad = wcs.pixel_to_world(sources['x'] + np.r_[3.0, np.zeros(len(sources) - 1)],
                             sources['y'])
    sources['sky_centroid'] = bad
    with pytest.warns(StarcnetWarning, match='disagrees with the pixel positions'
                      '.* for 1 of 12'):
        catalog = clf(image, sources)
    assert np.all(catalog['input_sky_centroid'].separation(bad).arcsec < 1e-6)
    expected = wcs.pixel_to_world(sources['x'], sources['y'])
    assert np.all(catalog['sky_centroid'].separation(expected).arcsec < 1e-6)
    # not a SkyCoord: renamed too
    sources['sky_centroid'] = ['here'] * len(sources)
    with pytest.warns(StarcnetWarning, match='not a SkyCoord'):
        catalog = clf(image, sources)
    assert list(catalog['input_sky_centroid']) == ['here'] * len(sources)
    # without a WCS there is nothing to compare: kept as it is
    catalog = clf(bands, sources)
    assert list(catalog['sky_centroid']) == ['here'] * len(sources)


def _fits_file(path, header):
    from astropy.io import fits

    data = np.ones((40, 40), np.float32)
    fits.PrimaryHDU(data, header=fits.Header({'BUNIT': 'ELECTRONS/S', **header})).writeto(path)
    return path


def test_band_key_contradicting_filter_keyword_warns(tmp_path):
    from starcnet.exceptions import StarcnetWarning

    f336 = _fits_file(tmp_path / 'a.fits', {'FILTER': 'F336W'})
    f438 = _fits_file(tmp_path / 'b.fits', {'FILTER': 'F438W'})
    acs = _fits_file(tmp_path / 'c.fits', {'FILTER1': 'CLEAR1L', 'FILTER2': 'F435W'})
    plain = _fits_file(tmp_path / 'd.fits', {})
    # swapped files: a warning naming the file, key and keyword
    with pytest.warns(StarcnetWarning) as record:
        image = MultiBandImage.read({'F336W': f438, 'F438W': f336})
    messages = [str(w.message) for w in record]
    assert len(messages) == 2
    assert "b.fits[0] is given for band F336W, but its header says FILTER = 'F438W' " \
        '(band F438W)' in messages[0]
    assert 'a.fits[0] is given for band F438W' in messages[1]
    assert image['F336W'].meta['path'] == str(f438)    # used as given
    with pytest.warns(StarcnetWarning, match="FILTER2 = 'F435W'"):
        MultiBandImage.read({'F555W': acs})
    # agreeing, absent or non-HST names: no warning
    MultiBandImage.read({'F336W': f336, 'F438W': f438, 'f435w': acs, 'F555W': plain})
    MultiBandImage.read({'blue': f438})


def test_one_file_for_two_bands_is_an_error(tmp_path):
    from astropy.io import fits

    path = _fits_file(tmp_path / 'one.fits', {})
    other = _fits_file(tmp_path / 'two.fits', {})
    with pytest.raises(ValueError, match=r'bands F275W and F336W are both read from '
                       r'HDU 0 of .*one\.fits'):
        MultiBandImage.read({'F275W': path, 'F336W': tmp_path / '.' / 'one.fits'})
    (tmp_path / 'link.fits').symlink_to(path)
    with pytest.raises(ValueError, match='both read from'):
        MultiBandImage.read({'F275W': path, 'F336W': tmp_path / 'link.fits'})
    os_link = tmp_path / 'hard.fits'
    os.link(path, os_link)
    with pytest.raises(ValueError, match='both read from'):
        MultiBandImage.read({'F275W': path, 'F336W': os_link})
    assert MultiBandImage.read({'F275W': path, 'F336W': other}).bands == ('F275W', 'F336W')
    # two HDUs of one file are two images
    hdul = fits.HDUList([fits.PrimaryHDU(),
                         fits.ImageHDU(np.ones((8, 8), np.float32), name='SCI', ver=1,
                                       header=fits.Header({'BUNIT': 'ELECTRONS/S'})),
                         fits.ImageHDU(np.ones((8, 8), np.float32), name='SCI', ver=2,
                                       header=fits.Header({'BUNIT': 'ELECTRONS/S'}))])
    chips = tmp_path / 'chips.fits'
    hdul.writeto(chips)
    image = MultiBandImage.read({'F275W': f'{chips}[SCI,1]', 'F336W': f'{chips}[SCI,2]'})
    assert len(image.bands) == 2
    # on purpose: the same array for several bands
    data = MultiBandImage.read({'F275W': path})['F275W']
    assert len(MultiBandImage({'F275W': data, 'F336W': data}).bands) == 2
