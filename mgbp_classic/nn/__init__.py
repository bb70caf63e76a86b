"""Hand-written network engine: layers with their backward passes, a parameter store, Adam.

LAYOUT. At the API boundary every tensor is a C-contiguous ``(N, C, H, W)`` array (float32 in
training; float64 accepted everywhere, for gradient checks). Internally each layer works in
``(C, N, H, W)`` order, where a convolution over the whole batch is ONE matrix product: measured on
this 2-core machine, the dense layer's (144 × 64) @ (64 × 16·64·64) product runs at ~26 GFLOP/s as one
BLAS call and at ~3 GFLOP/s as 16 per-image calls in (N, C, H·W) order. Each public call converts
once on the way in and once on the way out (a copy at memory speed); ``FilterBlock`` converts only at
its entry and exit. Caches hold references to their inputs: do not modify an input array in place
between a forward and its backward.

THREADS. Convolutions run in NumPy's BLAS (its own threads); the other kernels are Numba
``parallel=True`` (``numba.set_num_threads``) and fall back to one thread below ~1M elements
(``_numba.SERIAL_BELOW``), where waking the thread pool costs more than the work.

ENGINE CONTEXT. Everything a pass depends on besides its arrays is held by an :class:`Engine`
(:mod:`.engine`) that the caller makes and passes down (``engine=``): the ReLU gains mode (normal,
recording, frozen: :mod:`.gains`), whether backward passes compute parameter gradients, and the
scratch buffers the layers reuse. The package keeps no global state: two Python threads, each with
its own engine, can run networks at the same time (one engine serves one thread at a time; the
kernels release the GIL, and Numba's ``omp`` or ``tbb`` threading layer runs parallel kernels
launched from several threads, its ``workqueue`` fallback does not). A function given no engine
makes a fresh one for the call.

Quick tour::

    from mgbp_classic.nn import Adam, Conv2d, Engine, FilterBlock, ParamStore
    store = ParamStore(seed=0)
    conv = Conv2d(store, "analysis.conv", cin=3, cout=48, k=3)
    fb = FilterBlock(store, "analysis.fb", c=48)
    store.finalize()
    engine = Engine()                     # ReLU mode, parameter gradients on, scratch buffers
    y, cache = conv.forward(x, engine=engine)          # x (N, 3, H, W) -> y (N, 48, H, W)
    dx = conv.backward(dy, cache, engine=engine)       # adds into store.grads, returns dx

Modules (:mod:`.modules`): ``Conv2d``, ``ConvTranspose2d``, ``BiasReLU``, ``DenseLayer``,
``FilterBlock``, ``Upsample2x``. Functions (:mod:`.layers`): ``concat_forward``/``concat_backward``,
``mae_forward``/``mae_backward`` and every layer's ``*_forward``/``*_backward`` pair, each with its
named cache type. The tape (:mod:`.graph`): ``Graph``, ``Node``, ``Sequential``.
Every ReLU asks its engine's :class:`~.gains.Gains` (gain recording / frozen gains for deep-filter
visualisation).
"""
from . import gains
from .engine import Engine, Workspace
from .gains import Tape
from .graph import Graph, Node, Sequential
from .layers import (bias_relu_backward, bias_relu_forward, bicubic_upsample_kernel, concat_backward,
                     concat_forward, conv2d_backward, conv2d_forward, conv_transpose2d_backward,
                     conv_transpose2d_forward, mae_backward, mae_forward,
                     upsample2x_backward, upsample2x_forward)
from .modules import BiasReLU, Conv2d, ConvTranspose2d, DenseLayer, FilterBlock, Upsample2x
from .optim import Adam
from .params import ParamStore, he_normal, read_model_file, zeros

__all__ = [
    "gains", "Engine", "Workspace", "Tape", "Graph", "Node", "Sequential", "ParamStore", "Adam", "he_normal", "zeros", "read_model_file",
    "Conv2d", "ConvTranspose2d", "BiasReLU", "DenseLayer", "FilterBlock", "Upsample2x",
    "concat_forward", "concat_backward", "mae_forward", "mae_backward",
    "conv2d_forward", "conv2d_backward", "conv_transpose2d_forward", "conv_transpose2d_backward",
    "bias_relu_forward", "bias_relu_backward", "upsample2x_forward", "upsample2x_backward",
    "bicubic_upsample_kernel",
]
