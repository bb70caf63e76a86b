"""Parameter store: flat float32 buffers for parameters, gradients and Adam moments, with named views.

Every module registers its parameters by name (``store.add``) before :meth:`ParamStore.finalize`
allocates four flat float32 vectors of equal size -- ``params``, ``grads``, ``m`` and ``v`` (the
Adam moments) -- and hands out named, shaped *views* into them. The optimiser is then one loop over
one vector, zeroing all gradients is one ``fill``, and saving a model is saving one vector plus a
JSON configuration.

Initialisation is deterministic from ``(seed, name)``: each parameter draws from its own generator
seeded by the store seed and a hash of its name, so adding or removing a module never changes the
initial values of the others.
"""
import hashlib
import json
import zipfile
import zlib
from pathlib import Path

import numpy as np

from ..atomic import atomic_write
from ..exceptions import ModelFileError
from ..imaging.reader import describe_file

__all__ = ["ParamStore", "he_normal", "zeros", "read_model_file"]

FORMAT = "mgbp-classic-params-v1"


def he_normal(fan_in):
    """Initialiser: normal with standard deviation ``sqrt(2 / fan_in)`` (He et al. 2015).

    He ("Kaiming") initialisation keeps the variance of activations constant through ReLU layers:
    for ``y = W relu(x)`` with ``fan_in`` inputs per output and symmetric ``x``,
    ``Var(y) = fan_in Var(W) Var(x) / 2``, so ``Var(W) = 2 / fan_in`` gives ``Var(y) = Var(x)``.
    """
    std = float(np.sqrt(2.0 / fan_in))

    def init(rng, shape):
        return rng.standard_normal(shape) * std

    init.describe = f"he_normal(fan_in={fan_in})"
    return init


def zeros(rng, shape):
    """Initialiser: all zeros (used for every bias)."""
    return np.zeros(shape)


def _name_rng(seed, name):
    """A generator seeded by the store seed and the parameter name only."""
    digest = hashlib.sha256(name.encode("utf-8")).digest()
    words = [int.from_bytes(digest[i:i + 4], "little") for i in range(0, 16, 4)]
    return np.random.default_rng([int(seed)] + words)


class ParamStore:
    """Named float32 parameters in one flat buffer, with gradients and Adam moments beside them.

    Parameters
    ----------
    seed : int, optional
        Seed of the deterministic initialisation (default 0).
    dtype : {numpy.float32, numpy.float64}, optional
        Buffer type; float32 for training, float64 only for finite-difference gradient checks.

    Attributes
    ----------
    params, grads, m, v : ndarray of float32, shape (size,)
        The flat buffers (available after :meth:`finalize`).
    names : list of str
        Parameter names in registration order.

    Examples
    --------
    >>> store = ParamStore(seed=0)
    >>> _ = store.add("conv.weight", (4, 3, 3, 3), he_normal(27))
    >>> store.finalize()
    >>> store["conv.weight"].shape, store.size
    ((4, 3, 3, 3), 108)
    """

    def __init__(self, seed=0, *, dtype=np.float32):
        dtype = np.dtype(dtype)
        if dtype not in (np.float32, np.float64):
            raise ValueError(f"dtype must be float32 or float64, got {dtype}")
        self.dtype = dtype
        self.seed = int(seed)
        self.names = []
        self._specs = {}           # name -> (shape, init)
        self._offsets = {}         # name -> (start, stop)
        self._views = {}
        self._gviews = {}
        self.params = self.grads = self.m = self.v = None
        self.finalized = False

    # ------------------------------------------------------------------ registration
    def add(self, name, shape, init):
        """Register a parameter (before :meth:`finalize`).

        Parameters
        ----------
        name : str
            Unique dotted name, e.g. ``"analysis.conv.weight"``.
        shape : tuple of int
            Its shape.
        init : callable
            ``init(rng, shape) -> array`` (e.g. :func:`he_normal`, :func:`zeros`).

        Returns
        -------
        str
            ``name``.
        """
        if self.finalized:
            raise RuntimeError(f"cannot add parameter {name!r}: the store is already finalized")
        if not isinstance(name, str) or not name:
            raise ValueError(f"name must be a non-empty string, got {name!r}")
        if name in self._specs:
            raise ValueError(f"parameter name {name!r} is already registered")
        shape = tuple(int(s) for s in shape)
        if any(s <= 0 for s in shape):
            raise ValueError(f"shape of {name!r} must have positive sizes, got {shape}")
        self._specs[name] = (shape, init)
        self.names.append(name)
        return name

    def finalize(self):
        """Allocate the flat buffers and initialise every parameter (deterministically)."""
        if self.finalized:
            raise RuntimeError("the store is already finalized")
        start = 0
        for name in self.names:
            shape, _ = self._specs[name]
            size = int(np.prod(shape))
            self._offsets[name] = (start, start + size)
            start += size
        self.params = np.zeros(start, self.dtype)
        self.grads = np.zeros(start, self.dtype)
        self.m = np.zeros(start, self.dtype)
        self.v = np.zeros(start, self.dtype)
        for name in self.names:
            shape, init = self._specs[name]
            a, b = self._offsets[name]
            self._views[name] = self.params[a:b].reshape(shape)
            self._gviews[name] = self.grads[a:b].reshape(shape)
            self._views[name][...] = np.asarray(init(_name_rng(self.seed, name), shape), dtype=np.float64)
        self.finalized = True

    # ------------------------------------------------------------------ access
    def _check(self, name):
        if not self.finalized:
            raise RuntimeError("call store.finalize() before using parameters")
        if name not in self._views:
            raise KeyError(f"no parameter named {name!r} (the store has {len(self.names)} parameters)")

    def __getitem__(self, name):
        """The parameter ``name`` as a float32 view into :attr:`params`."""
        self._check(name)
        return self._views[name]

    def grad(self, name):
        """The gradient of ``name`` as a float32 view into :attr:`grads`."""
        self._check(name)
        return self._gviews[name]

    def __contains__(self, name):
        return name in self._specs

    def __len__(self):
        return len(self.names)

    @property
    def size(self):
        """Total number of scalar parameters."""
        return int(sum(int(np.prod(self._specs[n][0])) for n in self.names))

    def shape(self, name):
        """Shape of parameter ``name``."""
        return self._specs[name][0]

    def slice(self, name):
        """``(start, stop)`` of ``name`` in the flat buffers."""
        self._check(name)
        return self._offsets[name]

    def zero_grad(self):
        """Set every gradient to zero (gradients otherwise accumulate)."""
        self.grads.fill(0.0)

    def layout(self):
        """``[(name, shape), ...]`` in buffer order (what a saved file must match)."""
        return [(n, list(self._specs[n][0])) for n in self.names]

    # ------------------------------------------------------------------ files
    def save(self, path, *, config=None, extra=None):
        """Write parameters (and optional extra arrays) to an ``.npz`` file atomically.

        Parameters
        ----------
        path : str or Path
            Destination; written to a temporary file in the same folder, then ``os.replace``-d.
        config : dict, optional
            JSON-serialisable configuration stored beside the weights (e.g. the network's options).
        extra : dict of str to ndarray, optional
            Additional numeric arrays, e.g. ``Adam.state_dict()``; names must not start with ``"_"``.
        """
        if not self.finalized:
            raise RuntimeError("call store.finalize() before saving")
        path = Path(path)
        try:
            config_json = json.dumps({} if config is None else config, sort_keys=True)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"config must be JSON-serialisable, got {config!r}: {exc}") from None
        arrays = {"_format": np.array(FORMAT), "_layout": np.array(json.dumps(self.layout())),
                  "_config": np.array(config_json), "_params": self.params}
        for key, value in (extra or {}).items():
            if key.startswith("_"):
                raise ValueError(f"extra array names must not start with '_', got {key!r}")
            value = np.asarray(value)
            if value.dtype == object:
                raise ValueError(f"extra array {key!r} must be numeric, got dtype object")
            arrays[key] = value
        with atomic_write(path) as fh:
            np.savez(fh, **arrays)

    def load(self, path):
        """Load parameters saved by :meth:`save` into this (finalized) store.

        Parameters
        ----------
        path : str or Path
            An ``.npz`` file written by :meth:`save`.

        Returns
        -------
        config : dict
            The stored configuration.
        extra : dict of str to ndarray
            The stored extra arrays.

        Raises
        ------
        ModelFileError
            If the file is missing, truncated or corrupt, or its parameter names/shapes differ from
            this store's.
        """
        if not self.finalized:
            raise RuntimeError("call store.finalize() before loading")
        layout, config, params, extra = read_model_file(path)
        mine = self.layout()
        if layout != mine:
            raise ModelFileError(f"{path}: parameters do not match the model: {_first_difference(layout, mine)}")
        if params.shape != self.params.shape:
            raise ModelFileError(f"{path}: parameter vector has {params.size} values, "
                                 f"the model needs {self.params.size}")
        self.params[...] = params
        return config, extra

    def load_params(self, path):
        """Alias of :meth:`load` kept for symmetry with :meth:`save`."""
        return self.load(path)


def _first_difference(stored, wanted):
    for i, (a, b) in enumerate(zip(stored, wanted)):
        if a != b:
            return f"entry {i} is {a[0]} {tuple(a[1])} in the file, {b[0]} {tuple(b[1])} in the model"
    if len(stored) != len(wanted):
        return f"the file has {len(stored)} parameters, the model {len(wanted)}"
    return "unknown difference"


def read_model_file(path):
    """Read a file written by :meth:`ParamStore.save` without building a model, and check it.

    Everything is checked before anything is built from it: the file is a ZIP archive of NumPy
    arrays (an ``.npz``; nothing pickled is ever loaded), it holds the four entries ``_format``,
    ``_layout``, ``_config`` and ``_params``, the layout lists parameter names with positive
    shapes whose sizes add up to the parameter vector, and every stored number is finite.

    Parameters
    ----------
    path : str or Path

    Returns
    -------
    layout : list of [name, shape]
    config : dict
    params : ndarray of float32
    extra : dict of str to ndarray

    Raises
    ------
    ModelFileError
        Missing, not a model file, truncated or corrupt, or holding NaN or infinite values; the
        one-line message names the file and the entry (or parameter) at fault.
    """
    path = Path(path)
    if not path.exists():
        raise ModelFileError(f"model file not found: {path}")
    if path.is_dir():
        raise ModelFileError(f"{path}: is a directory, not a model file")
    try:
        with open(path, "rb") as fh:
            head = fh.read(4)
    except OSError as exc:
        raise ModelFileError(f"{path}: cannot be read ({exc.strerror or exc})") from None
    if head != b"PK\x03\x04":
        raise ModelFileError(f"{path}: not an mgbp-classic model file (an .npz archive): {_describe(path, head)}")
    try:
        with np.load(path, allow_pickle=False) as data:
            keys = set(data.files)
            missing = {"_format", "_layout", "_config", "_params"} - keys
            if missing:
                raise ModelFileError(f"{path}: not an mgbp-classic model file (it lacks the entries "
                                     f"{', '.join(sorted(missing))})")
            arrays = {key: _entry(data, key, path) for key in sorted(keys)}
    except ModelFileError:
        raise
    except (zipfile.BadZipFile, EOFError, OSError, ValueError, KeyError, zlib.error) as exc:
        raise ModelFileError(f"{path}: truncated or corrupt model file ({type(exc).__name__}: {exc})") from None
    fmt = str(arrays["_format"])
    if fmt != FORMAT:
        raise ModelFileError(f"{path}: entry '_format' is {fmt!r}, expected {FORMAT!r}")
    layout = _json_entry(arrays, "_layout", list, path)
    config = _json_entry(arrays, "_config", dict, path)
    for i, item in enumerate(layout):
        if not (isinstance(item, list) and len(item) == 2 and isinstance(item[0], str)
                and isinstance(item[1], list) and all(type(n) is int and n > 0 for n in item[1])):
            raise ModelFileError(f"{path}: entry '_layout' item {i} must be [name, [positive sizes]], got {item!r}")
    params = arrays["_params"]
    extra = {k: v for k, v in arrays.items() if not k.startswith("_")}
    if params.dtype != np.float32 or params.ndim != 1:
        raise ModelFileError(f"{path}: entry '_params' must be a 1-D float32 vector, got {params.dtype} {params.shape}")
    total = sum(int(np.prod(s)) for _, s in layout)
    if total != params.size:
        raise ModelFileError(f"{path}: entry '_layout' describes {total} values, '_params' holds {params.size}")
    if not np.all(np.isfinite(params)):
        start = 0
        for name, shape in layout:
            stop = start + int(np.prod(shape))
            bad = int(np.count_nonzero(~np.isfinite(params[start:stop])))
            if bad:
                raise ModelFileError(f"{path}: parameter '{name}' holds {bad} NaN or infinite value"
                                     f"{'s' * (bad > 1)} of {stop - start}; the model is unusable")
            start = stop
    for key, value in extra.items():
        if value.dtype.kind not in "biuf":
            raise ModelFileError(f"{path}: entry '{key}' must be numeric, got dtype {value.dtype}")
        if value.dtype.kind == "f" and not np.all(np.isfinite(value)):
            raise ModelFileError(f"{path}: entry '{key}' holds NaN or infinite values")
    return [(n, list(s)) for n, s in layout], config, params, extra


def _entry(data, key, path):
    """One array of an open ``.npz``; object arrays (pickled data) are refused, never loaded."""
    try:
        return np.asarray(data[key])
    except ValueError as exc:
        if "pickle" in str(exc):
            raise ModelFileError(f"{path}: entry '{key}' holds pickled Python objects, which are never "
                                 f"loaded; not an mgbp-classic model file") from None
        raise


def _json_entry(arrays, key, kind, path):
    try:
        value = json.loads(str(arrays[key]))
    except ValueError as exc:
        raise ModelFileError(f"{path}: entry '{key}' is not valid JSON ({exc})") from None
    if not isinstance(value, kind):
        raise ModelFileError(f"{path}: entry '{key}' must be a JSON {'list' if kind is list else 'object'}, "
                             f"got {type(value).__name__}")
    return value


def _describe(path, head):
    """What a file that is not a model file is (e.g. "it is a PNG image")."""
    if not head:
        return "the file is empty"
    return describe_file(path)
