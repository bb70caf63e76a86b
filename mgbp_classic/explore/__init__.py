"""The deep-filter explorer: the network's effective filter under the mouse, in the browser.

``mgbp-classic explore IMAGE`` serves a page on 127.0.0.1 that shows the input, the network's
output and bicubic side by side; pointing at an output pixel shows its effective filter (the row
of ``F`` of Theorem 1, computed on demand with the windowed backward pass), the bicubic filter at
the same pixel, their difference, the filter's size, the effective residual ``R`` there and the
check ``F X + R = net(X)``. ``--export DIR`` writes the same page as static files.

Modules: :mod:`.compute` (what is shown, no HTTP), :mod:`.server` (the standard-library HTTP
server and its security checks), :mod:`.export` (the static folder); the page is plain
HTML/JavaScript/CSS in ``static/``.
"""
from .compute import Explorer, ExploreError
from .export import export
from .server import ExploreServer, make_server, serve

__all__ = ["Explorer", "ExploreError", "ExploreServer", "make_server", "serve", "export"]
