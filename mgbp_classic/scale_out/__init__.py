"""Beyond one machine, on a Dask cluster: the same library functions as the local commands, cut into tasks.

``cluster`` (a client on an existing or a local cluster; the threads of a task), ``zarr_images`` (an
image too large for memory, Zarr in, Zarr out, tile by tile), ``files`` (a batch of files, one task
per image, each output published once) and ``training`` (data-parallel gradients). Import them
through :mod:`mgbp_classic.distributed`, which names the ``[dask]`` extra when Dask is missing.
"""
