# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""
Augmentation of training batches: the dihedral group of the square
cutout and band dropout.

The random draws come from the `torch.Generator` given (`fit` passes
its own, seeded one), never from torch's global generator unless none
is given; they are made on the generator's device and the results moved
to the batch's device, so that one seed gives the same draws on a CPU
and on a GPU.
"""

import torch

__all__ = ['dihedral_augment']


def _draw_device(generator, default):
    return default if generator is None else generator.device


def dihedral_augment(batch, generator=None):
    """
    Apply a random element of the dihedral group D4 to each cutout.

    Each cutout of ``batch`` (a tensor ``(N, C, H, W)``, H == W) is
    rotated by a random multiple of 90 degrees and, with probability
    1/2, flipped left-right; all bands of a cutout get the same
    transform.  Pixel values are only moved, never changed.

    Parameters
    ----------
    batch : `torch.Tensor`
        Cutouts ``(N, C, H, W)``, on any device.
    generator : `torch.Generator`, optional
        Random generator (for reproducibility); default torch's global
        generator of the batch's device.

    Returns
    -------
    augmented : `torch.Tensor`
        New tensor of the same shape, on the batch's device.
    """
    n = batch.shape[0]
    where = _draw_device(generator, batch.device)
    k = torch.randint(0, 4, (n,), generator=generator, device=where).to(batch.device)
    flip = torch.randint(0, 2, (n,), generator=generator,
                         device=where).bool().to(batch.device)
    # selections by torch.where, not boolean indexing: no shape that
    # depends on the draws, so no wait for the device
    out = torch.where(flip[:, None, None, None], torch.flip(batch, dims=(-1,)), batch)
    turned = out
    for r in (1, 2, 3):
        out = torch.where((k == r)[:, None, None, None],
                          torch.rot90(turned, r, dims=(-2, -1)), out)
    return out


def _band_dropout(n, n_bands, fraction, generator=None, *, device='cpu'):
    """
    Random missing-band masks: one random band of about ``fraction`` of the cutouts.

    `fit` marks these bands missing (their normalised input zeroed, as
    the classifier does for a band without data,
    `~starcnet.cutouts.CutoutFlag.MISSING_BAND`).

    Parameters
    ----------
    n, n_bands : int
        Number of cutouts and of bands.
    fraction : float
        Probability that a cutout loses a band.
    generator : `torch.Generator`, optional
        Random generator; default torch's global CPU generator.
    device : str or `torch.device`, optional
        Device of the mask returned.

    Returns
    -------
    missing : `torch.Tensor`
        bool ``(n, n_bands)``, at most one `True` per row.
    """
    where = _draw_device(generator, torch.device('cpu'))
    drop = torch.rand(n, generator=generator, device=where) < fraction
    band = torch.randint(0, n_bands, (n,), generator=generator, device=where)
    missing = (band[:, None] == torch.arange(n_bands, device=where)) & drop[:, None]
    return missing.to(device)
