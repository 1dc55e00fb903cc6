# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""
The input normalisation of a StarcNet model: one type, one validator,
the same arithmetic on numpy arrays and on torch tensors.

A model's normalisation turns cutouts in electrons per second into what
its network was trained on.  Three kinds exist:

``'affine'``
    ``(x - offset) / scale`` per band.  The published ``legus-2021``
    model: ``offset`` = the LEGUS band means, ``scale`` = 1.
``'asinh'``
    ``arcsinh((x - offset) / scale)`` per band (the bundled
    ``sim-small-v1``).
``'local'``
    Level-free, per cutout and per band: the background is the median
    of the cutout's outer pixels (those whose centres lie farther than
    ``radius`` pixels, default 12, from the cutout centre (15.5, 15.5):
    576 of the 1024 pixels of a 32x32 cutout, the corners and the
    border), the noise is 1.4826 times the median absolute deviation of
    the same pixels, and the input is ``arcsinh((x - background) /
    (stretch * noise))``.  It does not depend on sky level, exposure
    time or zero point.  Where the noise is 0 or not finite (a constant
    band, e.g. zeros outside a mosaic's footprint) the root-mean-square
    deviation of the outer pixels from the background is used instead,
    and where that is 0 too, 1; non-finite results (only from
    non-finite input pixels) are set to 0, so no NaN or inf comes out.

Every kind takes ``missing``, an ``(N, n_bands)`` bool array of bands
without data (`~starcnet.cutouts.CutoutFlag.MISSING_BAND`): their
normalised input is set to 0, "no information" (for the published
affine normalisation, the band mean).

The metadata layout (that of the model files, see
`starcnet.models.registry`) is ``{'kind': 'affine' or 'asinh', 'offset':
[...], 'scale': [...]}`` and ``{'kind': 'local', 'stretch': float or
[...], 'radius': float}``.
"""

import dataclasses
import math

import numpy as np

__all__ = ['Normalization', 'NORMALIZATION_KINDS', 'LOCAL_RADIUS', 'MAD_TO_SIGMA']

#: The kinds of `Normalization`.
NORMALIZATION_KINDS = ('affine', 'asinh', 'local')

#: Default radius (pixels from the cutout centre) beyond which pixels are
#: background pixels of the ``'local'`` normalisation.
LOCAL_RADIUS = 12.0

#: Median absolute deviation to standard deviation of a Gaussian.
MAD_TO_SIGMA = 1.4826


def _floats(values, name):
    """A tuple of finite floats from a number or a sequence of numbers."""
    if isinstance(values, (int, float, np.number)) and not isinstance(values, bool):
        values = (values,)
    try:
        out = tuple(float(v) for v in values)
    except (TypeError, ValueError) as exc:
        msg = f'normalization {name!r} must be a list of numbers, got {values!r}'
        raise ValueError(msg) from exc
    if not out or not all(math.isfinite(v) for v in out):
        msg = f'normalization {name!r} must be finite numbers, got {values!r}'
        raise ValueError(msg)
    return out


@dataclasses.dataclass(frozen=True)
class Normalization:
    """
    A model's per-band input normalisation (see the module documentation).

    Parameters
    ----------
    kind : {'affine', 'asinh', 'local'}
        The formula.
    offset, scale : sequence of float, optional
        ``'affine'`` and ``'asinh'`` only (required there): one per band;
        the scales finite and positive.
    stretch : float or sequence of float, optional
        ``'local'`` only: the asinh softening in units of the noise, one
        for all bands or one per band; finite and positive.  Default 1.
    radius : float, optional
        ``'local'`` only: pixels farther than this from the cutout
        centre are its background pixels.  Default `LOCAL_RADIUS`.

    Raises
    ------
    ValueError
        If a parameter is missing, not allowed for the kind, or out of
        range.

    Examples
    --------
    >>> import numpy as np
    >>> from starcnet.normalization import Normalization
    >>> norm = Normalization.from_metadata({'kind': 'local', 'stretch': 2.0})
    >>> norm.to_metadata()
    {'kind': 'local', 'stretch': 2.0, 'radius': 12.0}
    >>> norm.apply(np.ones((3, 5, 32, 32))).shape
    (3, 5, 32, 32)
    """

    kind: str
    offset: tuple | None = None
    scale: tuple | None = None
    stretch: tuple | None = None
    radius: float | None = None

    def __post_init__(self):
        if self.kind not in NORMALIZATION_KINDS:
            msg = (f'unknown normalisation kind {self.kind!r}; expected one of '
                   f'{", ".join(map(repr, NORMALIZATION_KINDS))}')
            raise ValueError(msg)
        setattr_ = object.__setattr__.__get__(self)
        if self.kind == 'local':
            if self.offset is not None or self.scale is not None:
                msg = "normalisation kind 'local' takes no 'offset' or 'scale'"
                raise ValueError(msg)
            stretch = _floats(1.0 if self.stretch is None else self.stretch, 'stretch')
            if not all(v > 0 for v in stretch):
                msg = f'normalisation stretch must be positive, got {stretch}'
                raise ValueError(msg)
            radius = LOCAL_RADIUS if self.radius is None else self.radius
            radius = _floats(radius, 'radius')
            if len(radius) != 1 or not 0 <= radius[0] < 15:
                msg = f'normalisation radius must be one number in [0, 15), got {self.radius!r}'
                raise ValueError(msg)
            setattr_('stretch', stretch)
            setattr_('radius', radius[0])
            return
        if self.stretch is not None or self.radius is not None:
            msg = (f"normalisation kind {self.kind!r} takes no 'stretch' or "
                   "'radius' (those are of kind 'local')")
            raise ValueError(msg)
        if self.offset is None or self.scale is None:
            msg = (f"normalisation kind {self.kind!r} needs the keys 'offset' and "
                   "'scale', one value per band")
            raise ValueError(msg)
        offset, scale = _floats(self.offset, 'offset'), _floats(self.scale, 'scale')
        if len(offset) != len(scale):
            msg = (f'normalisation has {len(offset)} band offsets and '
                   f'{len(scale)} scales; give one of each per band')
            raise ValueError(msg)
        if not all(v > 0 for v in scale):
            msg = ('normalisation offsets must be finite and scales finite and '
                   f'positive, got scales {scale}')
            raise ValueError(msg)
        setattr_('offset', offset)
        setattr_('scale', scale)

    # -- metadata ---------------------------------------------------------

    @classmethod
    def from_metadata(cls, metadata):
        """
        A `Normalization` from its metadata dict (or itself).

        Parameters
        ----------
        metadata : dict or `Normalization`
            The layout of the module documentation, as stored in model
            files and registry entries.

        Returns
        -------
        normalization : `Normalization`
        """
        if isinstance(metadata, cls):
            return metadata
        allowed = {'kind', 'offset', 'scale', 'stretch', 'radius'}
        if not isinstance(metadata, dict) or 'kind' not in metadata:
            msg = ("normalization must be a dict with keys 'kind' and, for "
                   "'affine' and 'asinh', 'offset' and 'scale' (for 'local': "
                   f"'stretch', 'radius'), got {metadata!r}")
            raise ValueError(msg)
        unknown = set(metadata) - allowed
        if unknown:
            msg = (f'normalization has unknown keys {sorted(unknown)}; allowed '
                   f'keys are {sorted(allowed)}')
            raise ValueError(msg)
        return cls(**metadata)

    def to_metadata(self):
        """
        The metadata dict (JSON-serialisable plain floats).

        Returns
        -------
        metadata : dict
        """
        if self.kind == 'local':
            stretch = self.stretch[0] if len(self.stretch) == 1 else list(self.stretch)
            return {'kind': 'local', 'stretch': stretch, 'radius': self.radius}
        return {'kind': self.kind, 'offset': list(self.offset), 'scale': list(self.scale)}

    @property
    def n_bands(self):
        """
        The number of bands it is made for, or `None` (any).
        """
        if self.kind == 'local':
            return len(self.stretch) if len(self.stretch) > 1 else None
        return len(self.offset)

    def check(self, n_bands, shape=None):
        """
        Raise a `ValueError` unless it fits cutouts with ``n_bands`` bands.

        Parameters
        ----------
        n_bands : int or None
            Number of bands (`None`: cutouts of a wrong shape, an error).
        shape : tuple, optional
            Shape of the cutouts, for the message.
        """
        if n_bands is not None and self.n_bands in (None, n_bands):
            return
        what = (f'{self.n_bands} band offsets and scales' if self.kind != 'local'
                else f'{self.n_bands} band stretches')
        msg = (f'normalisation has {what}, but the cutouts have shape '
               f'{shape if shape is not None else (None, n_bands)} (N, bands, ny, nx)')
        raise ValueError(msg)

    def background_pixels(self, ny=32, nx=32):
        """
        The ``'local'`` background pixels of an ``ny`` x ``nx`` cutout.

        Returns
        -------
        mask : `~numpy.ndarray`
            bool ``(ny, nx)``: pixel centres farther than ``radius`` from
            the centre ``((ny - 1) / 2, (nx - 1) / 2)``.
        """
        yy, xx = np.mgrid[:ny, :nx]
        r2 = (yy - (ny - 1) / 2) ** 2 + (xx - (nx - 1) / 2) ** 2
        radius = LOCAL_RADIUS if self.radius is None else self.radius
        return r2 > radius ** 2

    # -- arithmetic -------------------------------------------------------

    def apply(self, cutouts, missing=None):
        """
        Normalise cutouts (numpy arrays or torch tensors).

        Parameters
        ----------
        cutouts : `~numpy.ndarray` or `torch.Tensor`
            ``(N, n_bands, ny, nx)`` in electrons per second.  A tensor is
            normalised with torch on its device.
        missing : array-like or `torch.Tensor` of bool, optional
            ``(N, n_bands)``: `True` where a band has no data; its
            normalised input is set to 0.

        Returns
        -------
        normalized : `~numpy.ndarray` or `torch.Tensor`
            A new float32 array or tensor of the same shape (the input is
            not modified); numpy and torch agree to float32 rounding.
        """
        if _is_tensor(cutouts):
            return self._apply_torch(cutouts, missing)
        return self._apply_numpy(cutouts, missing)

    def _apply_numpy(self, cutouts, missing):
        x = np.asarray(cutouts, dtype=np.float32)
        self.check(x.shape[1] if x.ndim == 4 else None, x.shape)
        n_bands = x.shape[1]
        if self.kind == 'local':
            sel = np.flatnonzero(self.background_pixels(*x.shape[2:]))
            outer = np.sort(x.reshape(*x.shape[:2], -1)[:, :, sel], axis=-1)
            bg = _sorted_median_np(outer)
            dev = np.sort(np.abs(outer - bg[..., None]), axis=-1)
            noise = np.float32(MAD_TO_SIGMA) * _sorted_median_np(dev)
            with np.errstate(invalid='ignore', over='ignore'):
                rms = np.sqrt(np.mean((outer - bg[..., None]) ** 2, axis=-1,
                                      dtype=np.float32))
            noise = np.where(_good(noise), noise, np.where(_good(rms), rms, 1.0))
            stretch = np.broadcast_to(np.asarray(self.stretch, np.float32), (n_bands,))
            denom = (stretch[None, :] * noise).astype(np.float32)
            with np.errstate(invalid='ignore', over='ignore', divide='ignore'):
                out = (x - bg[..., None, None]) / denom[..., None, None]
                np.arcsinh(out, out=out)
            out[~np.isfinite(out)] = 0.0
        else:
            offset = np.asarray(self.offset, np.float32)[:, None, None]
            scale = np.asarray(self.scale, np.float32)[:, None, None]
            out = (x - offset) / scale
            if self.kind == 'asinh':
                np.arcsinh(out, out=out)
        out = out.astype(np.float32, copy=False)
        if missing is not None:
            missing = np.asarray(missing, dtype=bool)
            _check_missing(missing, x.shape)
            out[missing] = 0.0
        return out

    def _apply_torch(self, x, missing):
        import torch

        if x.dtype != torch.float32:
            x = x.float()
        self.check(x.shape[1] if x.ndim == 4 else None, tuple(x.shape))
        n_bands = x.shape[1]
        if self.kind == 'local':
            sel = torch.from_numpy(np.flatnonzero(
                self.background_pixels(*x.shape[2:]))).to(x.device)
            outer = x.flatten(2).index_select(2, sel).sort(dim=-1).values
            bg = _sorted_median_torch(outer)
            dev = (outer - bg[..., None]).abs().sort(dim=-1).values
            noise = MAD_TO_SIGMA * _sorted_median_torch(dev)
            rms = ((outer - bg[..., None]) ** 2).mean(dim=-1).sqrt()
            one = torch.ones_like(noise)
            noise = torch.where(_good(noise), noise, torch.where(_good(rms), rms, one))
            stretch = torch.tensor(self.stretch, dtype=torch.float32,
                                   device=x.device).expand(n_bands)
            denom = stretch[None, :] * noise
            out = torch.asinh((x - bg[..., None, None]) / denom[..., None, None])
            out = torch.nan_to_num(out, nan=0.0, posinf=0.0, neginf=0.0)
        else:
            offset = torch.tensor(self.offset, dtype=torch.float32,
                                  device=x.device)[None, :, None, None]
            scale = torch.tensor(self.scale, dtype=torch.float32,
                                 device=x.device)[None, :, None, None]
            out = (x - offset) / scale
            if self.kind == 'asinh':
                out = torch.asinh_(out)
        if missing is not None:
            if not _is_tensor(missing):
                missing = torch.from_numpy(np.asarray(missing, dtype=bool))
            _check_missing(missing, tuple(x.shape))
            missing = missing.to(device=out.device, dtype=torch.bool)
            out = out.masked_fill(missing[:, :, None, None], 0.0)
        return out


def _is_tensor(value):
    return type(value).__module__.startswith('torch') and hasattr(value, 'device')


def _good(value):
    if _is_tensor(value):
        import torch

        return torch.isfinite(value) & (value > 0)
    with np.errstate(invalid='ignore'):
        return np.isfinite(value) & (value > 0)


def _sorted_median_np(values):
    k = values.shape[-1]
    return ((values[..., (k - 1) // 2] + values[..., k // 2]) / np.float32(2)).astype(
        np.float32)


def _sorted_median_torch(values):
    k = values.shape[-1]
    return (values[..., (k - 1) // 2] + values[..., k // 2]) / 2


def _check_missing(missing, shape):
    if tuple(missing.shape) != tuple(shape[:2]):
        msg = (f'missing must have shape (N, n_bands) = {tuple(shape[:2])}, got '
               f'{tuple(missing.shape)}')
        raise ValueError(msg)
