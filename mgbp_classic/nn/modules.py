"""Modules: a class per layer, parameters registered by name in a shared :class:`ParamStore`.

Every module has ``forward(x, *, engine=None) -> (y, cache)`` and
``backward(dy, cache, *, need_dx=True, engine=None) -> dx``, where ``engine`` is the context of the
pass (:class:`~mgbp_classic.nn.engine.Engine`; a fresh one when None) and ``cache`` the layer's named
cache type (:mod:`.layers`).
The backward *adds* into the store's gradient views, so a module applied several times with the
same weights (the MGBP recursion) accumulates the sum of its gradients; ``store.zero_grad()``
clears them. ``need_dx=False`` skips the input gradient (returns ``None``) for a first layer.

Initialisation (deterministic from the store seed and the parameter name): convolution weights
He-normal with ``fan_in = Ci k^2`` (transposed convolution: ``Ci k^2 / 4``, the taps that reach one
output pixel of a stride-2 transposed convolution); biases zero; the upscaler kernel bicubic.
"""
import numpy as np

from . import layers as L
from .engine import resolve
from .params import he_normal, zeros

__all__ = ["Conv2d", "ConvTranspose2d", "BiasReLU", "DenseLayer", "FilterBlock", "Upsample2x"]


def _check_input(x, channels, who):
    if not isinstance(x, np.ndarray) or x.ndim != 4:
        raise ValueError(f"{who}: x must be a 4-D array (N, C, H, W), got {type(x).__name__} "
                         f"with shape {getattr(x, 'shape', None)}")
    if x.shape[1] != channels:
        raise ValueError(f"{who}: x must have {channels} channels, got shape {x.shape}")
    if x.dtype not in (np.float32, np.float64):
        raise ValueError(f"{who}: x must be float32 or float64, got {x.dtype}")


def _check_internal(xc, channels, who):
    """The check of :func:`_check_input` for an input in the internal layout ``(C, N, H, W)``."""
    if not isinstance(xc, np.ndarray) or xc.ndim != 4 or xc.shape[0] != channels:
        raise ValueError(f"{who}: expected {channels} channels in the internal layout (C, N, H, W), "
                         f"got shape {getattr(xc, 'shape', None)}")


def _positive_int(value, what, allowed=None):
    if not isinstance(value, (int, np.integer)) or value <= 0 or (allowed is not None and value not in allowed):
        wanted = f"one of {allowed}" if allowed else "a positive integer"
        raise ValueError(f"{what} must be {wanted}, got {value!r}")
    return int(value)


class Conv2d:
    """Convolution ``Ci -> Co``, kernel ``k`` (1 or 3), stride 1 or 2, zero padding ``k // 2``.

    Parameters
    ----------
    store : ParamStore
    name : str
        Prefix of the parameters ``<name>.weight`` (Co, Ci, k, k) and ``<name>.bias`` (Co,).
    cin, cout, k : int
    stride : int, optional
    bias : bool, optional
    init_std : float, optional
        Standard deviation of the weights (default He: ``sqrt(2 / (Ci k^2))``).
    """

    def __init__(self, store, name, cin, cout, k, *, stride=1, bias=False, init_std=None):
        self.store, self.name = store, name
        self.cin, self.cout = _positive_int(cin, "cin"), _positive_int(cout, "cout")
        self.k = _positive_int(k, "k", (1, 3))
        self.stride = _positive_int(stride, "stride", (1, 2))
        if self.k == 1 and self.stride != 1:
            raise ValueError(f"stride must be 1 for a 1×1 convolution, got {stride}")
        init = he_normal(cin * k * k) if init_std is None else _normal(init_std)
        self.w = store.add(f"{name}.weight", (cout, cin, k, k), init)
        self.b = store.add(f"{name}.bias", (cout,), zeros) if bias else None

    @property
    def in_channels(self):
        """Channels of the input."""
        return self.cin

    def forward(self, x, *, engine=None):
        _check_input(x, self.cin, self.name)
        yc, cache = self._forward_c(L.to_internal(x), None, resolve(engine))
        return L.to_public(yc), cache

    def forward_c(self, xc, *, engine=None):
        """:meth:`forward` on the internal layout ``(C, N, H, W)``, in and out (see :class:`.Sequential`)."""
        _check_internal(xc, self.cin, self.name)
        return self._forward_c(xc, None, resolve(engine))

    def output_shape_c(self, xc):
        """The shape ``(Co, N, Ho, Wo)`` of :meth:`forward_c`'s output for the input ``xc`` (checked as there)."""
        _check_internal(xc, self.cin, self.name)
        _, n, h, w = xc.shape
        p = self.k // 2
        return (self.cout, n, L.conv_out_size(h, self.k, self.stride, p), L.conv_out_size(w, self.k, self.stride, p))

    def forward_into(self, xc, out, *, engine=None):
        """:meth:`forward_c` with the output written into ``out`` ``(Co, N, Ho, Wo)``; returns the cache."""
        _check_internal(xc, self.cin, self.name)
        return self._forward_c(xc, out, resolve(engine))[1]

    def _forward_c(self, xc, out, engine):
        s = self.store
        return L.conv2d_c_forward(xc, s[self.w], None if self.b is None else engine.bias(s[self.b]),
                                  self.stride, engine, out)

    def backward(self, dy, cache, *, need_dx=True, engine=None):
        dxc = self.backward_c(L.to_internal(dy), cache, need_dx=need_dx, engine=engine)
        return None if dxc is None else L.to_public(dxc)

    def backward_c(self, dyc, cache, *, need_dx=True, engine=None):
        """:meth:`backward` on the internal layout, in and out."""
        s = self.store
        return L.conv2d_c_backward(dyc, cache, s.grad(self.w), None if self.b is None else s.grad(self.b),
                                   need_dx, resolve(engine))


class ConvTranspose2d:
    """Transposed convolution ``Ci -> Co``, kernel ``k``, stride 2, padding ``k // 2``, output padding 1.

    The output is exactly ``2H × 2W`` (PyTorch ``nn.ConvTranspose2d(Ci, Co, k, 2, k // 2, 1, bias=False)``).
    Parameter ``<name>.weight`` has PyTorch's shape (Ci, Co, k, k).
    """

    def __init__(self, store, name, cin, cout, k=3, *, init_std=None):
        self.store, self.name = store, name
        self.cin, self.cout = _positive_int(cin, "cin"), _positive_int(cout, "cout")
        self.k = _positive_int(k, "k", (3,))
        init = he_normal(cin * k * k / 4.0) if init_std is None else _normal(init_std)
        self.w = store.add(f"{name}.weight", (cin, cout, k, k), init)

    @property
    def in_channels(self):
        """Channels of the input."""
        return self.cin

    def forward(self, x, *, engine=None):
        _check_input(x, self.cin, self.name)
        return L.conv_transpose2d_forward(x, self.store[self.w], engine=engine)

    def forward_c(self, xc, *, engine=None):
        """:meth:`forward` on the internal layout ``(C, N, H, W)``, in and out (see :class:`.Sequential`)."""
        _check_internal(xc, self.cin, self.name)
        return L.conv_transpose2d_c_forward(xc, self.store[self.w], resolve(engine))

    def backward(self, dy, cache, *, need_dx=True, engine=None):
        return L.conv_transpose2d_backward(dy, cache, self.store.grad(self.w), need_dx=need_dx, engine=engine)

    def backward_c(self, dyc, cache, *, need_dx=True, engine=None):
        """:meth:`backward` on the internal layout, in and out."""
        return L.conv_transpose_c_backward(dyc, cache.x, cache.w, self.store.grad(self.w), need_dx, resolve(engine))


class BiasReLU:
    """``relu(x + b)`` with a per-channel bias ``<name>.bias`` (C,) (a gains-aware ReLU)."""

    def __init__(self, store, name, c):
        self.store, self.name = store, name
        self.c = _positive_int(c, "c")
        self.b = store.add(f"{name}.bias", (c,), zeros)

    @property
    def in_channels(self):
        """Channels of the input."""
        return self.c

    def forward(self, x, *, engine=None):
        _check_input(x, self.c, self.name)
        engine = resolve(engine)
        return L.bias_relu_forward(x, engine.bias(self.store[self.b]), engine=engine)

    def backward(self, dy, cache, *, need_dx=True, engine=None):
        dx = L.bias_relu_backward(dy, cache, self.store.grad(self.b), engine=engine)
        return dx if need_dx else None

    def forward_c(self, xc, *, engine=None):
        """:meth:`forward` on the internal layout ``(C, N, H, W)``, in and out (see :class:`.Sequential`)."""
        _check_internal(xc, self.c, self.name)
        engine = resolve(engine)
        return L.bias_relu_c_forward(xc, engine.bias(self.store[self.b]), engine)

    def backward_c(self, dyc, cache, *, need_dx=True, engine=None):
        """:meth:`backward` on the internal layout, in and out."""
        dxc = L.bias_relu_c_backward(dyc, cache, self.store.grad(self.b), resolve(engine))
        return dxc if need_dx else None


class DenseLayer:
    """Dense layer: ``h = conv3x3_{B->G}(relu(conv1x1_{C->B}(relu(x + b1)) + b2))``, output ``[x, h]``.

    ``B = bottleneck`` (64), ``G = growth`` (16); the convolutions have no bias of their own.
    Parameters ``<name>.bias1`` (C,), ``<name>.conv1.weight`` (B, C, 1, 1), ``<name>.bias2`` (B,),
    ``<name>.conv3.weight`` (G, B, 3, 3). Output has ``C + G`` channels.
    """

    def __init__(self, store, name, c, *, growth=16, bottleneck=64):
        self.store, self.name = store, name
        self.c = _positive_int(c, "c")
        self.growth, self.bottleneck = _positive_int(growth, "growth"), _positive_int(bottleneck, "bottleneck")
        self.b1 = store.add(f"{name}.bias1", (c,), zeros)
        self.w1 = store.add(f"{name}.conv1.weight", (bottleneck, c, 1, 1), he_normal(c))
        self.b2 = store.add(f"{name}.bias2", (bottleneck,), zeros)
        self.w3 = store.add(f"{name}.conv3.weight", (growth, bottleneck, 3, 3), he_normal(9 * bottleneck))

    @property
    def in_channels(self):
        """Channels of the input."""
        return self.c

    def params(self, engine=None):
        """``(b1, w1, b2, w3)`` views (the biases as ``engine`` sees them, see :meth:`.Engine.bias`)."""
        s = self.store
        b1, b2 = s[self.b1], s[self.b2]
        if engine is not None:
            b1, b2 = engine.bias(b1), engine.bias(b2)
        return b1, s[self.w1], b2, s[self.w3]

    def grads(self):
        """``(db1, dw1, db2, dw3)`` views."""
        s = self.store
        return s.grad(self.b1), s.grad(self.w1), s.grad(self.b2), s.grad(self.w3)

    def forward(self, x, *, engine=None):
        _check_input(x, self.c, self.name)
        n, c, h, w = x.shape
        hbuf = np.empty((c + self.growth, n, h, w), x.dtype)                  # (C + G, N, H, W)
        L.to_internal(x, out=hbuf[:c])                                        # hbuf[:C] = x
        engine = resolve(engine)
        cache = L.dense_c_forward(hbuf, c, *self.params(engine), engine)      # hbuf[C:] = h
        return L.to_public(hbuf), L.DenseLayerCache(hbuf, cache)              # out = [x, h]

    def backward(self, dy, cache, *, need_dx=True, engine=None):
        n, _, h, w = dy.shape
        dhbuf = L.to_internal(dy, out=np.empty((self.c + self.growth, n, h, w), dy.dtype))  # out = [x, h]
        engine = resolve(engine)
        L.dense_c_backward(dhbuf, cache.hbuf, self.c, *self.params(engine), cache.dense, *self.grads(),
                           engine)
        return L.to_public(dhbuf[:self.c]) if need_dx else None


class FilterBlock:
    """``layers`` DenseLayers (``C -> C + layers G``) then ``conv1x1_{C+layers G -> C}(relu(h + b))``.

    Parameters ``<name>.dense{i}.*`` (see :class:`DenseLayer`), ``<name>.bias`` (C + layers G,),
    ``<name>.conv.weight`` (C, C + layers G, 1, 1). Output has ``C`` channels.
    """

    def __init__(self, store, name, c, *, growth=16, bottleneck=64, layers=3):
        self.store, self.name = store, name
        self.c = _positive_int(c, "c")
        self.layers = _positive_int(layers, "layers")
        self.growth = _positive_int(growth, "growth")
        self.dense = [DenseLayer(store, f"{name}.dense{i}", c + i * growth, growth=growth, bottleneck=bottleneck)
                      for i in range(layers)]
        ct = c + layers * growth
        self.ct = ct
        self.b = store.add(f"{name}.bias", (ct,), zeros)
        self.w = store.add(f"{name}.conv.weight", (c, ct, 1, 1), he_normal(ct))

    @property
    def in_channels(self):
        """Channels of the input."""
        return self.c

    def forward(self, x, *, engine=None):
        yc, cache = self.forward_from_public(x, engine=engine)
        return L.to_public(yc), cache

    def forward_from_public(self, x, *, engine=None):
        """:meth:`forward` with its output left in the internal layout ``(C, N, H, W)``: the layout
        change of the input is the copy into the channel buffer (what a :class:`.Sequential` that
        starts with this block runs)."""
        _check_input(x, self.c, self.name)
        n, c, h, w = x.shape
        hbuf = np.empty((self.ct, n, h, w), x.dtype)                          # (C + 3G, N, H, W)
        L.to_internal(x, out=hbuf[:c])                                        # hbuf[:C] = x
        return self._forward_buffer(hbuf, resolve(engine))

    def forward_c(self, xc, *, engine=None):
        """:meth:`forward` on the internal layout ``(C, N, H, W)``, in and out (see :class:`.Sequential`)."""
        _check_internal(xc, self.c, self.name)
        _, n, h, w = xc.shape
        hbuf = np.empty((self.ct, n, h, w), xc.dtype)                         # (C + 3G, N, H, W)
        hbuf[:self.c] = xc                                                    # hbuf[:C] = x
        return self._forward_buffer(hbuf, resolve(engine))

    def forward_after(self, conv, xc, *, engine=None):
        """``self.forward_c(conv.forward_c(xc))`` without the copy in between: the convolution writes its
        output straight into the first rows of this block's channel buffer (internal layout in and out).

        Returns ``(y, (conv_cache, block_cache))``: the two caches that the two calls would have
        returned, for the two ``backward`` calls.
        """
        c, n, h, w = conv.output_shape_c(xc)
        if c != self.c:
            raise ValueError(f"{self.name}: expected {self.c} channels from {conv.name}, it gives {c}")
        engine = resolve(engine)
        hbuf = np.empty((self.ct, n, h, w), xc.dtype)                         # (C + 3G, N, H, W)
        conv_cache = conv.forward_into(xc, hbuf[:c], engine=engine)           # hbuf[:C] = conv(x)
        y, cache = self._forward_buffer(hbuf, engine)
        return y, (conv_cache, cache)

    def _forward_buffer(self, hbuf, engine):
        s = self.store
        return L.filter_block_c_forward(hbuf, self.c, [d.params(engine) for d in self.dense],
                                        engine.bias(s[self.b]), s[self.w], engine)   # (C, N, H, W)

    def backward(self, dy, cache, *, need_dx=True, engine=None):
        dxc = self.backward_c(L.to_internal(dy), cache, need_dx=need_dx, engine=engine)
        return None if dxc is None else L.to_public(dxc)

    def backward_c(self, dyc, cache, *, need_dx=True, engine=None):
        """:meth:`backward` on the internal layout, in and out."""
        s, engine = self.store, resolve(engine)
        dxc = L.filter_block_c_backward(dyc, cache, self.c, [d.params(engine) for d in self.dense],
                                        engine.bias(s[self.b]), s[self.w], [d.grads() for d in self.dense],
                                        s.grad(self.b), s.grad(self.w), engine)
        return dxc if need_dx else None


class Upsample2x:
    """Learnable classic 2x upscaler: depthwise stride-2 transposed filter ``<name>.weight`` (C, 8, 8).

    Initialised so that the output equals MATLAB ``imresize(x, 2, 'bicubic')`` exactly (borders
    included): symmetric padding by 2 (``scipy.ndimage`` mode ``'reflect'``), the transposed
    convolution with the separable bicubic kernel, crop. See :func:`.layers.upsample2x_forward`.
    """

    def __init__(self, store, name, channels=3):
        self.store, self.name = store, name
        self.c = _positive_int(channels, "channels")
        self.w = store.add(f"{name}.weight", (channels, 8, 8),
                           lambda rng, shape: L.bicubic_upsample_kernel(shape[0]))

    @property
    def in_channels(self):
        """Channels of the input."""
        return self.c

    def forward(self, x, *, engine=None):
        _check_input(x, self.c, self.name)
        return L.upsample2x_forward(x, self.store[self.w], engine=engine)

    def backward(self, dy, cache, *, need_dx=True, engine=None):
        return L.upsample2x_backward(dy, cache, self.store.grad(self.w), need_dx=need_dx, engine=engine)


def _normal(std):
    std = float(std)

    def init(rng, shape):
        return rng.standard_normal(shape) * std

    return init
