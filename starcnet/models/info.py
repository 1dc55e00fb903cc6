# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""
`ModelInfo`: the description of a StarcNet model, and its round trip to
the metadata of a weights file.
"""

import copy
import dataclasses
import json
import re

from ..normalization import Normalization
from .inference import check_temperature
from .schema import (FILE_FORMAT, FILE_FORMAT_VERSION, check_config, check_distinct_bands,
                     check_ood, validate_metadata)

__all__ = ['ModelInfo']

KINDS = ('bundled', 'remote', 'file')
FORMATS = ('safetensors', 'published')

_SHA256 = re.compile(r'[0-9a-f]{64}')


def _to_json(value):
    """JSON form of numpy arrays and scalars and torch tensors."""
    if hasattr(value, 'tolist'):
        return value.tolist()
    msg = f'{type(value).__name__} is not JSON-serialisable'
    raise TypeError(msg)


def _plain_json(value, what):
    """``value`` as plain JSON types (lists, dicts, numbers, str)."""
    try:
        return json.loads(json.dumps(value, allow_nan=False, default=_to_json))
    except (TypeError, ValueError) as exc:
        msg = f'{what} is not JSON-serialisable: {exc}'
        raise ValueError(msg) from exc


def check_sha256(sha256, what='sha256'):
    """A sha256 as 64 lower-case hex digits, or a ValueError."""
    text = sha256.lower() if isinstance(sha256, str) else None
    if text is None or not _SHA256.fullmatch(text):
        msg = f'{what} must be 64 hexadecimal digits (a hex sha256), got {sha256!r}'
        raise ValueError(msg)
    return text


@dataclasses.dataclass(frozen=True)
class ModelInfo:
    """
    Description of a StarcNet model: where its weights are and how to use
    them.

    `to_metadata` gives the metadata of its weights file (what
    `~starcnet.models.save_model` writes) and `from_metadata` reads it
    back: ``ModelInfo.from_metadata(info.to_metadata(), kind=info.kind,
    ...) == info`` when the fields the file does not store (`STORED_FIELDS`
    lists those it does) are passed.

    Parameters
    ----------
    name : str
        Registry name, e.g. ``'legus-2021'``; for a model read from a file
        that matches no registry entry, the ``name`` in its metadata or
        the file path.
    description : str
        One-line description.
    kind : {'bundled', 'remote', 'file'}
        ``'bundled'``: shipped in ``starcnet/data/``; ``'remote'``:
        downloaded into the astropy cache; ``'file'``: read from a local
        path (given to `~starcnet.models.load_model` or registered with
        `~starcnet.models.register_model`).
    filename : str or None
        Bundled models: file name inside ``starcnet/data/``.  Models read
        from a path: that path.
    url : tuple of str
        Remote models: download URLs, the primary first, then mirrors.  The
        primary URL is the key of the file in the astropy cache.
    sha256 : str or None
        Hex sha256 of the weights file.  `None` in the registry entry of a
        bundled model (no download to check); always filled in the
        `ModelInfo` returned by `~starcnet.models.load_model`.
    size : int or None
        Size of the weights file in bytes, if known.
    format : {'safetensors', 'published'}
        ``'safetensors'``: our format (`starcnet.models.schema`);
        ``'published'``: the PyTorch state_dict of Pérez et al. (2021).
    config : dict or None
        Keyword arguments of `~starcnet.models.StarcNet`.  `None` in an
        entry whose file says it (read when the file is).
    bands : tuple of str or None
        Band names, in the order of the input channels.
    normalization : `~starcnet.normalization.Normalization`, dict or None
        The input normalisation; a metadata dict (e.g. ``{'kind':
        'affine', 'offset': [...], 'scale': [...]}``) is turned into a
        `~starcnet.normalization.Normalization` (and checked).
    temperature : float
        Temperature of the logits (default 1: none); the predictor
        divides the logits by it before the softmax.
    classes : dict or None
        Output index + 1 -> class name, e.g. `starcnet.legus.CLASS_NAMES`;
        keys given as strings (as in a file) become ints.
    license : str
        Licence of the weights.
    citation : str
        What to cite when using the model.
    reference : str
        A link to the paper or to the origin of the weights.
    training : dict
        Free-form record of how the weights were made (data, epochs, seed,
        metrics), as stored in the file; numpy values become plain JSON.
    ood : dict or None
        The out-of-distribution score of the model and its threshold, e.g.
        ``{'kind': 'energy', 'threshold': -3.2, 'quantile': 0.99,
        'fitted_on': 'validation set'}`` or a Mahalanobis entry with its
        means and matrices (`starcnet.models.uncertainty.fit_ood`, checked
        by `~starcnet.models.schema.check_ood`, against ``config`` when
        that is known); `None` (the default) for a model without one: the
        classifier then writes no ``ood_score`` column.  A bundled model's
        registry entry may give it when its weights file has none.
    """

    name: str
    description: str
    kind: str
    filename: str | None = None
    url: tuple = ()
    sha256: str | None = None
    size: int | None = None
    format: str = 'safetensors'
    config: dict | None = None
    bands: tuple | None = None
    normalization: Normalization | None = None
    temperature: float = 1.0
    classes: dict | None = None
    license: str = ''
    citation: str = ''
    reference: str = ''
    training: dict = dataclasses.field(default_factory=dict, repr=False)
    ood: dict | None = None

    #: The fields a weights file stores (`to_metadata`, `from_metadata`).
    STORED_FIELDS = ('name', 'description', 'config', 'bands', 'normalization',
                     'temperature', 'classes', 'license', 'citation', 'training',
                     'ood')

    def __post_init__(self):
        def set_(key, value):
            object.__setattr__(self, key, value)

        if not isinstance(self.name, str) or not self.name.strip():
            msg = f'ModelInfo name must be a non-empty str, got {self.name!r}'
            raise ValueError(msg)
        if self.kind not in KINDS:
            msg = f'ModelInfo kind must be one of {KINDS}, got {self.kind!r}'
            raise ValueError(msg)
        if self.format not in FORMATS:
            msg = f'ModelInfo format must be one of {FORMATS}, got {self.format!r}'
            raise ValueError(msg)
        url = (self.url,) if isinstance(self.url, str) else tuple(self.url or ())
        set_('url', url)
        if self.kind == 'remote' and not url:
            msg = f'remote model {self.name!r} needs at least one URL'
            raise ValueError(msg)
        if self.kind in ('bundled', 'file') and not self.filename:
            msg = f'{self.kind} model {self.name!r} needs a filename'
            raise ValueError(msg)
        if self.bands is not None:
            bands = (self.bands,) if isinstance(self.bands, str) else tuple(self.bands)
            if not bands or not all(isinstance(band, str) and band for band in bands):
                msg = (f'ModelInfo {self.name!r} bands must be band names (str), one '
                       f'per input channel, got {self.bands!r}')
                raise ValueError(msg)
            check_distinct_bands(bands, f'ModelInfo {self.name!r}', 'bands')
            set_('bands', bands)
        if self.sha256 is not None:
            set_('sha256', check_sha256(self.sha256, f'ModelInfo {self.name!r} sha256'))
        if self.config is not None:
            check_config(self.config, f'ModelInfo {self.name!r}', 'config')
            set_('config', dict(self.config))
        if self.classes is not None:
            try:
                set_('classes', {int(key): value for key, value in self.classes.items()})
            except (AttributeError, TypeError, ValueError) as exc:
                msg = (f'ModelInfo classes must map class numbers to names, '
                       f'got {self.classes!r}')
                raise ValueError(msg) from exc
            names = list(self.classes.values())
            if not all(isinstance(value, str) and value for value in names):
                msg = (f'ModelInfo {self.name!r} classes must map class numbers to '
                       f'names (non-empty str), got {self.classes!r}')
                raise ValueError(msg)
            if len(set(names)) != len(names):
                msg = f'ModelInfo {self.name!r} class names must differ, got {self.classes!r}'
                raise ValueError(msg)
        if self.normalization is not None:
            set_('normalization', Normalization.from_metadata(self.normalization))
        set_('temperature', check_temperature(self.temperature, 'ModelInfo temperature'))
        training = {} if self.training is None else self.training
        if not isinstance(training, dict):
            msg = f'ModelInfo training must be a dict, got {training!r}'
            raise ValueError(msg)  # noqa: TRY004
        set_('training', _plain_json(training, 'the "training" record'))
        if self.ood is not None:
            set_('ood', check_ood(self.ood, f'ModelInfo {self.name!r}', 'ood',
                                  config=self.config))

    # -- the file metadata --------------------------------------------------

    def to_metadata(self):
        """
        The ``'starcnet'`` metadata of this model's weights file.

        Returns
        -------
        meta : dict
            JSON-serialisable, in the layout of `starcnet.models.schema`
            (checked by `~starcnet.models.schema.validate_metadata`); this
            is what `~starcnet.models.save_model` writes.

        Raises
        ------
        ValueError
            If a field the file needs (``config``, ``bands``,
            ``normalization``, ``classes``) is `None`, e.g. in the
            registry entry of a bundled model (use
            `~starcnet.models.get_model_info`, which reads the file).
        """
        missing = [key for key in ('config', 'bands', 'normalization', 'classes')
                   if getattr(self, key) is None]
        if missing:
            msg = (f'model {self.name!r} has no {", ".join(missing)}: its '
                   'metadata is in its weights file (see get_model_info)')
            raise ValueError(msg)
        meta = {
            'format': FILE_FORMAT,
            'format_version': FILE_FORMAT_VERSION,
            'name': self.name,
            'description': self.description,
            'config': copy.deepcopy(self.config),
            'bands': list(self.bands),
            'normalization': self.normalization.to_metadata(),
            'temperature': self.temperature,
            'classes': {str(key): value for key, value in sorted(self.classes.items())},
            'license': self.license,
            'citation': self.citation,
            'training': copy.deepcopy(self.training),
        }
        if self.ood is not None:
            # written only when there is one: files without it stay as they were
            meta['ood'] = dict(self.ood)
        validate_metadata(meta, f'model {self.name!r}')
        return meta

    @classmethod
    def from_metadata(cls, meta, *, source='metadata', **fields):
        """
        A `ModelInfo` from the ``'starcnet'`` metadata of a weights file.

        Parameters
        ----------
        meta : dict
            The metadata (`to_metadata`, or a file's; checked by
            `~starcnet.models.schema.validate_metadata`).
        source : str, optional
            What to name in error messages, e.g. the file path.
        **fields
            The fields the file does not store: ``kind`` (default
            ``'file'``), ``filename``, ``url``, ``sha256``, ``size``,
            ``format`` (default ``'safetensors'``), ``reference``.

        Returns
        -------
        info : `ModelInfo`

        Raises
        ------
        ValueError
            If the metadata is invalid.
        TypeError
            If ``fields`` names a stored field or no field at all.
        """
        bad = sorted(set(fields) & set(cls.STORED_FIELDS)
                     | set(fields) - {f.name for f in dataclasses.fields(cls)})
        if bad:
            msg = (f'from_metadata takes the fields a file does not store, not '
                   f'{bad}; change those in the metadata')
            raise TypeError(msg)
        validate_metadata(meta, source)
        fields.setdefault('kind', 'file')
        return cls(
            name=meta.get('name') or fields.get('filename') or source,
            description=meta.get('description', ''),
            config=copy.deepcopy(meta['config']),
            bands=tuple(meta['bands']),
            normalization=Normalization.from_metadata(meta['normalization']),
            temperature=meta.get('temperature', 1.0),
            classes=meta['classes'],
            license=meta.get('license', ''),
            citation=meta.get('citation', ''),
            training=copy.deepcopy(meta.get('training', {})),
            ood=copy.deepcopy(meta.get('ood')),
            **fields)
