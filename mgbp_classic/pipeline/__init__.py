"""The upscaling pipeline, from a method to files on disk.

``plan`` (sizes, memory, tiles, time: arithmetic before any work), ``stream`` (premultiplied alpha,
exact size, the whole image or band by band), ``runner`` (the learned network made ready:
:class:`~mgbp_classic.pipeline.runner.NetRunner`), ``upscale`` (the method registry and
:func:`~mgbp_classic.pipeline.upscale.upscale`), ``batch`` (files and folders: the one output
planner, one file at a time) and ``downscale`` (the protocol's degradation, for files too).
"""
