# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""
Streaming over memory-mapped bands: order by row, pages given back,
results unchanged (the device / precision logic of the network is
tested in ``starcnet/models/tests/test_inference.py``).
"""

import sys

import numpy as np
import pytest
import torch
from astropy.io import fits

from starcnet import MultiBandImage, StarClusterClassifier
from starcnet._memmap import RowReleaser, find_mmap, is_shared
from starcnet.conftest import make_test_scene
from starcnet.cutouts import extract_cutouts, normalize
from starcnet.images import STARCNET_BANDS

linux = pytest.mark.skipif(not sys.platform.startswith('linux'),
                           reason='RSS from /proc/self/status')


def _rss_file_kb():
    with open('/proc/self/status') as handle:
        for line in handle:
            if line.startswith('RssFile:'):
                return int(line.split()[1])
    pytest.skip('no RssFile in /proc/self/status')


def _write_bands(path, bands):
    paths = {}
    for band, data in bands.items():
        paths[band] = path / f'{band}.fits'
        fits.PrimaryHDU(data, header=fits.Header({'BUNIT': 'ELECTRONS/S'})).writeto(
            paths[band])
    return paths


@pytest.fixture
def big_scene(tmp_path):
    bands, sources = make_test_scene(shape=(600, 300), n=40, seed=3)
    return _write_bands(tmp_path, bands), bands, sources


def test_memmapped_results_equal_in_memory_reference(tiny_model_path, big_scene):
    paths, bands, sources = big_scene
    # unsorted input, several batches and strips
    sources = sources[np.random.default_rng(1).permutation(len(sources))]
    clf = StarClusterClassifier(tiny_model_path, device='cpu', batch_size=7)
    image = MultiBandImage.read(paths)
    assert find_mmap(image['F555W'].data) is not None
    cat = clf(image, sources)
    np.testing.assert_array_equal(cat['x'], sources['x'])  # same row order
    cutouts, flags = extract_cutouts([bands[b] for b in STARCNET_BANDS],
                                     sources['x'], sources['y'])
    with torch.inference_mode():
        net = clf.network.to(memory_format=torch.contiguous_format)
        logits = net(torch.from_numpy(normalize(
            cutouts, clf.model_info.normalization))).numpy()
    proba = np.exp(logits - logits.max(1, keepdims=True))
    proba /= proba.sum(1, keepdims=True)
    got = np.column_stack([cat[f'prob_class{k}'] for k in range(1, 5)])
    assert np.abs(got - proba).max() <= 1e-4
    np.testing.assert_array_equal(cat['cluster_class'], proba.argmax(1) + 1)
    np.testing.assert_array_equal(cat['starcnet_flags'], flags)


def test_strips_released_in_row_order(tiny_model_path, big_scene, monkeypatch):
    paths, _, sources = big_scene
    stops = []
    original = RowReleaser.release

    def spy(self, stop_row):
        stops.append(stop_row)
        return original(self, stop_row)

    monkeypatch.setattr(RowReleaser, 'release', spy)
    clf = StarClusterClassifier(tiny_model_path, device='cpu', batch_size=8)
    clf(MultiBandImage.read(paths), sources[::-1])
    assert len(stops) == 5
    assert stops == sorted(stops)
    assert stops[-1] == 600


@linux
def test_release_drops_resident_pages(tmp_path):
    data = np.arange(2048 * 1024, dtype=np.float32).reshape(2048, 1024)  # 8 MB
    fits.PrimaryHDU(data).writeto(tmp_path / 'a.fits')
    # read-only, as MultiBandImage.read maps bands
    with fits.open(tmp_path / 'a.fits', memmap=True, mode='denywrite') as hdul:
        mapped = hdul[0].data
        assert is_shared(find_mmap(mapped))
        before = _rss_file_kb()
        assert float(mapped.sum(dtype=np.float64)) == float(data.sum(dtype=np.float64))
        touched = _rss_file_kb()
        releaser = RowReleaser([mapped, None, np.zeros((3, 3))])
        assert releaser
        assert releaser.release(1024) > 3_000_000   # about half of 8 MB
        half = _rss_file_kb()
        releaser.release(2048)
        after = _rss_file_kb()
        # pages read again come back from the file
        np.testing.assert_array_equal(mapped[1000:1010], data[1000:1010])
        del mapped
    assert touched - before > 6000
    assert touched - half > 3000
    assert touched - after > 6000


def test_copy_on_write_maps_are_left_alone(tmp_path):
    # astropy's default map is private: pages changed in memory exist
    # only in the process, so none of its pages are given back
    data = np.zeros((1024, 1024), dtype=np.float32)
    fits.PrimaryHDU(data).writeto(tmp_path / 'a.fits')
    with fits.open(tmp_path / 'a.fits', memmap=True) as hdul:  # copy-on-write
        mapped = hdul[0].data
        mapped[10, :] = 7.0
        float(mapped.sum())
        assert not is_shared(find_mmap(mapped)) or sys.version_info >= (3, 13)
        releaser = RowReleaser([mapped])
        assert not releaser
        assert releaser.release(1024) == 0
        assert np.all(mapped[10] == 7.0)
        assert float(mapped[11:].sum()) == 0.0
        del mapped


def test_read_bands_are_read_only_shared_maps(big_scene):
    paths, bands, _ = big_scene
    image = MultiBandImage.read(paths)
    arrays = image.band_arrays(STARCNET_BANDS)[0]
    assert all(is_shared(find_mmap(a)) for a in arrays)
    assert RowReleaser(arrays)
    with pytest.raises(ValueError, match='read-only'):
        arrays[0][0, 0] = 1.0
    np.testing.assert_array_equal(arrays[3], bands['F555W'])
    del arrays, image


def test_plain_arrays_are_ignored():
    releaser = RowReleaser([np.zeros((10, 10)), np.zeros((10, 10)).T, None])
    assert not releaser
    assert releaser.release(10) == 0
