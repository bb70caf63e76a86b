"""The upscaling pipeline around a method: alpha premultiplication, exact output size, streaming.

Two paths make the same image:

* :func:`upscale_whole` runs a registered method on the whole image (every method, every level);
* :func:`upscale_bands` runs the learned network tile by tile and yields the output a band of rows at
  a time, so the caller can write it to disk as it comes (memory stays bounded by the tile size and
  one row of tiles, whatever the output size).

Both do, in this order:

1. **Premultiply** colour by alpha (``C·α``), so that the colour of transparent pixels, which is
   arbitrary (often black), never bleeds into the visible edge: a filter that mixes a red opaque pixel
   with a transparent black one then mixes ``(1, 0, 0)·1`` with ``(0, 0, 0)·0``, not with black.
2. Run the method on the premultiplied colour; upscale α with the method itself when it is linear
   (bicubic, IBP, MGBP: then ``method(C·α) / method(α)`` is exactly ``C`` for a constant colour, and
   the edge keeps its colour), else (the network) with MATLAB bicubic ``imresize``.
3. **Resize** (when the requested size is not ``2**N`` times the input) both, premultiplied, with
   MATLAB's anti-aliased bicubic ``imresize`` to the exact size.
4. **Divide** by the upscaled α where it is above :data:`ALPHA_EPS` (colour 0 where the pixel is
   transparent), clip to [0, 1].

Without alpha, steps 1 and 4 are the identity. Greyscale goes to the network as three equal channels
and comes back as their mean.
"""
import numpy as np

from ..resize import _apply_axis, _Csr, _get_kernel, _resize_matrix, _resize_params, imresize

__all__ = ["ALPHA_EPS", "upscale_whole", "upscale_bands", "split_alpha", "premultiply", "unpremultiply"]

#: Upscaled alpha at or below this is treated as fully transparent (colour set to 0): half a 16-bit step.
ALPHA_EPS = 0.5 / 65535


def split_alpha(image):
    """``(colour, alpha)``: colour ``(H, W)`` or ``(H, W, 3)``, alpha ``(H, W)`` or ``None``."""
    if image.ndim == 2:
        return image, None
    channels = image.shape[2]
    if channels == 1:
        return image[..., 0], None
    if channels == 2:
        return image[..., 0], image[..., 1]
    if channels == 3:
        return image, None
    return image[..., :3], image[..., 3]


def premultiply(colour, alpha):
    """``colour · alpha`` (alpha broadcast over the colour channels)."""
    return colour * (alpha if colour.ndim == 2 else alpha[..., None])


def unpremultiply(colour, alpha):
    """``colour / alpha`` where ``alpha > ALPHA_EPS``, 0 elsewhere; both clipped to [0, 1] first.

    Returns a new array (``colour``'s dtype).
    """
    a = np.clip(alpha, 0.0, 1.0)
    a = a if colour.ndim == 2 else a[..., None]
    c = np.clip(colour, 0.0, None)
    out = np.divide(c, a, out=np.zeros_like(c), where=a > ALPHA_EPS)
    return np.clip(out, 0.0, 1.0, out=out)


def _attach(colour, alpha, like):
    """Re-attach alpha with the input's channel layout (``like``: the input image)."""
    if alpha is not None:
        c = colour if colour.ndim == 3 else colour[..., None]
        return np.concatenate([c, np.clip(alpha, 0.0, 1.0)[..., None].astype(c.dtype, copy=False)], axis=2)
    if like.ndim == 3 and colour.ndim == 2:
        return colour[..., None]
    return colour


def _bicubic(image, scale):
    return imresize(image, scale, kernel="cubic")


def _resize(image, shape):
    return imresize(image, output_shape=tuple(shape), kernel="cubic")


def upscale_whole(image, function, *, levels, output_shape=None, return_levels=False, alpha_by_method=False,
                  name="the method", **options):
    """Run a method on the whole image with alpha premultiplied, resize to ``output_shape``.

    Parameters
    ----------
    image : ndarray
        Checked float image ``(H, W)`` or ``(H, W, C)``, C in 1..4 (float32 or float64).
    function : callable
        A registered method's function: ``function(colour, *, levels, **options)`` returning the list
        of level images ``[2×, ..., 2**levels ×]`` (entries may be ``None`` except the last when
        ``final_only`` is passed).
    levels : int
    output_shape : (int, int), optional
        Final size; default ``2**levels`` times the input's.
    return_levels : bool, optional
        Return every level (``output_shape`` must then be ``None``).
    alpha_by_method : bool, optional
        Upscale alpha with ``function`` too (right for a linear method: then
        ``method(C·α) / method(α) = C`` for a constant colour ``C``); default: bicubic.
    name : str, optional
        What the messages call ``function`` when it returns the wrong images (e.g. ``"method 'flat'"``).
    **options
        Passed to ``function``.

    Returns
    -------
    ndarray or list of ndarray
        In [0, 1], the input's dtype and channel layout.
    """
    dtype = image.dtype
    colour, alpha = split_alpha(image)
    source = colour if alpha is None else premultiply(colour, alpha)
    outputs = list(function(source, levels=int(levels), **options))
    if len(outputs) != levels:
        raise ValueError(f"{name} must return {levels} level images, got {len(outputs)}")
    alphas = None
    if alpha is not None and alpha_by_method:
        alphas = list(function(alpha, levels=int(levels), **options))
    first = 1 if return_levels else levels
    result = []
    for k, out in enumerate(outputs[first - 1:], start=first):
        out = np.asarray(out, dtype=dtype)
        shape = (colour.shape[0] << k, colour.shape[1] << k) + colour.shape[2:]
        if out.shape != shape:
            raise ValueError(f"{name} must return a {shape} image at level {k}, got {out.shape}")
        if alpha is None:
            a = None
        elif alphas is not None:
            a = np.asarray(alphas[k - 1], dtype=dtype)
        else:
            a = _bicubic(alpha, 2 ** k).astype(dtype, copy=False)
        if k == levels and output_shape is not None and tuple(output_shape) != shape[:2]:
            out = _resize(out, output_shape).astype(dtype, copy=False)
            a = None if a is None else _resize(a, output_shape).astype(dtype, copy=False)
        out = np.clip(out, 0.0, 1.0) if a is None else unpremultiply(out, a)
        result.append(_attach(out, a, image))
    return result if return_levels else result[-1]


def _row_ranges(mat):
    """For each output row of a resize matrix: first and one-past-last input row it reads."""
    starts, ends = mat.indptr[:-1], mat.indptr[1:]
    lo = np.array([mat.indices[a:b].min() for a, b in zip(starts, ends)], dtype=np.int64)
    hi = np.array([mat.indices[a:b].max() + 1 for a, b in zip(starts, ends)], dtype=np.int64)
    return lo, np.maximum.accumulate(hi)


def _row_block(mat, i0, i1, offset, n):
    """Rows ``i0:i1`` of a CSR resize matrix acting on input rows ``offset:offset + n``."""
    a, b = mat.indptr[i0], mat.indptr[i1]
    return _Csr(mat.indptr[i0:i1 + 1] - a, mat.indices[a:b] - offset, mat.values[a:b], (i1 - i0, n))


def _resize_matrices(in_shape, out_shape):
    """MATLAB ``imresize`` matrices (rows, columns) from ``in_shape`` to ``out_shape`` (cubic, antialiased)."""
    func, support = _get_kernel("cubic")
    scales, sizes = _resize_params(in_shape, None, tuple(out_shape))
    return tuple(_resize_matrix(in_shape[axis], sizes[axis], scales[axis], func, support, True)
                 for axis in (0, 1))


def upscale_bands(image, tile_function, *, levels, tile, margin, output_shape=None, progress=None):
    """Upscale tile by tile; yield the output as bands of rows, top to bottom.

    Parameters
    ----------
    image : ndarray
        Checked float image ``(H, W)`` or ``(H, W, C)``, C in 1..4.
    tile_function : callable
        ``f(piece, levels)``: a ``(h, w)`` or ``(h, w, 3)`` float32 piece of (premultiplied) colour in,
        its ``(h·2**levels, w·2**levels, ...)`` upscale out, e.g. :meth:`mgbp_classic.pipeline.runner.NetRunner.tile`.
    levels : int
        2× levels.
    tile : int
        Side of the low-resolution tiles (see :func:`mgbp_classic.pipeline.plan.tile_for_budget`).
    margin : int
        Low-resolution context pixels around every tile (reflected at the image border), e.g. the
        runner's :attr:`~mgbp_classic.pipeline.runner.NetRunner.margin`.
    output_shape : (int, int), optional
        Exact output size (default ``2**levels`` times the input's); reached with anti-aliased bicubic
        ``imresize``, applied band by band (each band exactly as the whole-image resize makes it).
    progress : callable, optional
        ``progress(done, total)`` after each tile.

    Yields
    ------
    ndarray
        ``(n, cols, C)`` float32 rows in [0, 1] (``(n, cols)`` for a 2-D input), in order; together
        the ``(rows, cols)`` image.

    Notes
    -----
    Each tile sees ``margin`` pixels of real (or, at the border, symmetrically reflected)
    neighbourhood and only its centre is kept, so for a method whose output pixel depends on input
    pixels at most ``margin`` away (bicubic: 2) the result equals :func:`upscale_whole` exactly, and
    for the network up to the influence of pixels beyond the margin (within 1/255 at the default
    margin). Memory: the input, one tile's work and one row of tiles at the output resolution.
    """
    colour, alpha = split_alpha(image)
    H, W = colour.shape[:2]
    s = 2 ** int(levels)
    rows, cols = (H * s, W * s) if output_shape is None else tuple(output_shape)
    resizing = (rows, cols) != (H * s, W * s)
    if resizing:
        m0, m1 = _resize_matrices((H * s, W * s), (rows, cols))
        lo, hi = _row_ranges(m0)
        lo_after = np.minimum.accumulate(lo[::-1])[::-1]           # first row any later output reads
    m, t = int(margin), int(tile)
    grey = colour.ndim == 2
    total = -(-H // t) * -(-W // t)
    done = 0
    buffer, buf_start, emitted = None, 0, 0                       # high-resolution rows not yet used
    for y in range(0, H, t):
        h = min(t, H - y)
        piece_rows, a_lr = _band_input(colour, alpha, y, h, m)    # (h + 2m, W + 2m[, 3]), (h + 2m, W + 2m)
        band = np.empty((h * s, W * s, 1 if grey else 3), np.float32)
        for x in range(0, W, t):
            w = min(t, W - x)
            out = tile_function(np.ascontiguousarray(piece_rows[:, x:x + w + 2 * m]), levels)
            out = np.asarray(out, np.float32)[m * s:(m + h) * s, m * s:(m + w) * s]
            band[:, x * s:(x + w) * s] = out[..., None] if grey else out
            done += 1
            if progress is not None:
                progress(done, total)
        if a_lr is not None:
            a = _bicubic(a_lr, s).astype(np.float32)[m * s:(m + h) * s, m * s:(m + W) * s]
            band = np.concatenate([band, a[..., None]], axis=2)    # premultiplied colour + alpha
        if not resizing:
            yield _finish(band, alpha is not None, grey, image.ndim)
            continue
        buffer = band if buffer is None else np.concatenate([buffer, band], axis=0)
        end = buf_start + buffer.shape[0]
        i1 = emitted
        while i1 < rows and hi[i1] <= end:
            i1 += 1
        if i1 > emitted:
            block = _row_block(m0, emitted, i1, buf_start, buffer.shape[0])
            yield _finish(_apply_rows(block, m1, buffer), alpha is not None, grey, image.ndim)
            emitted = i1
            if emitted < rows:
                keep = int(lo_after[emitted]) - buf_start
                buffer, buf_start = buffer[keep:], buf_start + keep
    if resizing and emitted != rows:
        raise RuntimeError(f"resize stream ended after {emitted} of {rows} rows")   # a bug, never input


def _apply_rows(block, m1, band):
    x = np.ascontiguousarray(band, dtype=np.float32)
    x = _apply_axis(block, x, 0)
    return _apply_axis(_Csr.from_any(m1), np.ascontiguousarray(x), 1)


def _band_input(colour, alpha, y, h, m):
    """Rows ``y - m .. y + h + m`` of the premultiplied colour and of alpha, ``m`` columns added on
    both sides, symmetrically reflected at the borders (MATLAB ``symmetric``: ``d c b a | a b c d``); float32."""
    H = colour.shape[0]
    idx = np.mod(np.arange(y - m, y + h + m), 2 * H)
    idx = np.where(idx >= H, 2 * H - 1 - idx, idx)
    c = colour[idx].astype(np.float32)
    a = None if alpha is None else alpha[idx].astype(np.float32)
    if a is not None:
        c = premultiply(c, a)
    if m:
        c = np.pad(c, ((0, 0), (m, m)) + ((0, 0),) * (c.ndim - 2), mode="symmetric")
        a = None if a is None else np.pad(a, ((0, 0), (m, m)), mode="symmetric")
    return c, a


def _finish(band, has_alpha, grey, ndim):
    """Unpremultiply and lay out a band like the input (float32 in [0, 1])."""
    if has_alpha:
        colour, a = band[..., :-1], band[..., -1]
        colour = unpremultiply(colour, a)
        return np.concatenate([colour, np.clip(a, 0.0, 1.0)[..., None]], axis=2)
    out = np.clip(band, 0.0, 1.0)
    if grey and ndim == 2:
        return out[..., 0]
    return out
