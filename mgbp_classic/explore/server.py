"""The explorer's local web server: the page, its images and the filters, on 127.0.0.1 only.

Built on the standard library's :class:`http.server.ThreadingHTTPServer`: the explorer serves one
user on one machine a handful of fixed routes, so a web framework would add a dependency and
nothing the page needs. Every request is a GET of a fixed route with a few integer parameters:

=================================  ===========================================================
``/``, ``/explore.js``, ...        the page (package data, no file path ever comes from a URL)
``/api/info``                      the image's size, the allowed levels and µ
``/api/state?levels=N&mu=M``       computes (levels, µ): network output, bicubic, residual R
``/api/image/K.png?levels&mu``     K in input, output, bicubic, residual
``/api/filter?levels&mu&y&x&mode`` one pixel's effective filter and checks (cached per pixel)
=================================  ===========================================================

Security. The socket is bound to 127.0.0.1. A request whose ``Host`` header is not
``127.0.0.1:PORT`` or ``localhost:PORT`` is refused with 403 (a web page elsewhere cannot reach
the server through a DNS name that resolves to 127.0.0.1), as is one with a foreign ``Origin``.
Requests are bounded: the target at most :data:`MAX_TARGET` characters (414), no request body
(413 when ``Content-Length`` is not 0), GET and HEAD only (405), at most a few known query
parameters, each once, integers of at most six digits (400 with a one-line reason otherwise).
Responses carry a strict Content-Security-Policy (only the server's own scripts, styles and
images) and ``X-Content-Type-Options: nosniff``.

Cancellation. The page aborts a filter request when the mouse moves on (``AbortController``), which
closes its connection. Requests wait for the one computation lock; one whose client has gone by
the time it gets the lock is dropped without computing. A row already being computed is finished
and cached.
"""
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
import json
import re
import select
import socket
import sys
import threading
from types import MappingProxyType
from urllib.parse import parse_qs, urlsplit

from ..exceptions import ParamError
from .compute import Cancelled, MODES

__all__ = ["ExploreServer", "make_server", "serve", "STATIC_FILES", "MAX_TARGET", "static_bytes"]

#: Longest request target (path and query) accepted.
MAX_TARGET = 2048
#: The page's files: URL path -> (file in ``mgbp_classic/explore/static``, content type).
STATIC_FILES = MappingProxyType({
    "/": ("index.html", "text/html; charset=utf-8"),
    "/index.html": ("index.html", "text/html; charset=utf-8"),
    "/explore.js": ("explore.js", "text/javascript; charset=utf-8"),
    "/explore.css": ("explore.css", "text/css; charset=utf-8"),
})
_CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
        "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
_INT = re.compile(r"^[0-9]{1,6}$")
_IMAGES = ("input", "output", "bicubic", "residual")


def static_bytes(name):
    """Contents of one of the page's files (package data)."""
    return resources.files("mgbp_classic.explore").joinpath("static", name).read_bytes()


class _BadRequest(Exception):
    def __init__(self, status, message):
        super().__init__(message)
        self.status, self.message = status, message


def _params(query, allowed, required):
    """Query string -> dict of ints/strings; only ``allowed`` names, each at most once."""
    try:
        fields = parse_qs(query, keep_blank_values=True, strict_parsing=bool(query), max_num_fields=8)
    except ValueError:
        raise _BadRequest(400, "malformed query string") from None
    out = {}
    for name, values in fields.items():
        if name not in allowed:
            raise _BadRequest(400, f"unknown parameter {name!r}; allowed: {', '.join(allowed)}")
        if len(values) != 1:
            raise _BadRequest(400, f"parameter {name!r} given {len(values)} times")
        value = values[0]
        if allowed[name] is int:
            if not _INT.match(value):
                raise _BadRequest(400, f"{name} must be a non-negative integer, got {value[:40]!r}")
            value = int(value)
        out[name] = value
    missing = [n for n in required if n not in out]
    if missing:
        raise _BadRequest(400, f"missing parameter{'s' * (len(missing) > 1)} {', '.join(missing)}")
    return out


class _Handler(BaseHTTPRequestHandler):
    server_version = "mgbp-classic-explore"
    sys_version = ""
    timeout = 60                      # seconds a client may take to send its request

    # -- plumbing ---------------------------------------------------------------------------------
    def log_message(self, format, *args):
        if self.server.verbose:
            sys.stderr.write(f"explore: {self.address_string()} {format % args}\n")

    def _send(self, status, body, content_type, *, cache="no-store"):
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", cache)
        self.send_header("X-Content-Type-Options", "nosniff")
        self.send_header("Content-Security-Policy", _CSP)
        self.send_header("Referrer-Policy", "no-referrer")
        self.send_header("X-Frame-Options", "DENY")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _error(self, status, message):
        self.close_connection = True
        self._send(status, (message + "\n").encode("utf-8"), "text/plain; charset=utf-8")

    def _json(self, obj):
        self._send(200, json.dumps(obj, separators=(",", ":"), allow_nan=False).encode("utf-8"),
                   "application/json")

    def client_gone(self):
        """Whether the client closed its connection (e.g. an aborted fetch) while we waited."""
        try:
            readable, _, _ = select.select([self.connection], [], [], 0)
            if not readable:
                return False
            return self.connection.recv(1, socket.MSG_PEEK) == b""
        except (OSError, ValueError):
            return True

    def _check_request(self):
        if len(self.path) > MAX_TARGET:
            raise _BadRequest(414, f"request target longer than {MAX_TARGET} characters")
        host = self.headers.get("Host", "")
        if host not in self.server.allowed_hosts:
            raise _BadRequest(403, f"host {host[:80]!r} not allowed; use http://{self.server.address}/")
        origin = self.headers.get("Origin")
        if origin is not None and origin not in self.server.allowed_origins:
            raise _BadRequest(403, f"origin {origin[:80]!r} not allowed")
        length = self.headers.get("Content-Length")
        if length not in (None, "0") or self.headers.get("Transfer-Encoding"):
            raise _BadRequest(413, "request bodies are not accepted")

    # -- methods ----------------------------------------------------------------------------------
    def do_GET(self):
        try:
            self._check_request()
            self._route()
        except _BadRequest as exc:
            self._error(exc.status, exc.message)
        except ParamError as exc:                       # a bad level, µ, pixel, mode, ...
            self._error(400, str(exc).splitlines()[0])
        except Cancelled:
            self.close_connection = True
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True
        except Exception as exc:                        # one line to the page, the rest to stderr
            sys.stderr.write(f"explore: internal error on {self.path[:200]}: {exc!r}\n")
            try:
                self._error(500, f"internal error: {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}")
            except OSError:
                pass

    do_HEAD = do_GET

    def _not_allowed(self):
        self.close_connection = True
        self._error(405, f"method {self.command} not allowed; only GET")

    do_POST = do_PUT = do_DELETE = do_PATCH = do_OPTIONS = _not_allowed

    def _route(self):
        url = urlsplit(self.path)
        path, query = url.path, url.query
        ex = self.server.explorer
        if path in STATIC_FILES:
            if query:
                raise _BadRequest(400, "the page takes no parameters")
            name, ctype = STATIC_FILES[path]
            self._send(200, static_bytes(name), ctype, cache="no-cache")
        elif path == "/data.js":                        # the static export's data; none when served
            _params(query, {}, ())
            self._send(200, b"window.EXPLORE_STATIC = null;\n", "text/javascript; charset=utf-8")
        elif path == "/favicon.ico":
            self._send(204, b"", "image/x-icon")
        elif path == "/api/info":
            _params(query, {}, ())
            self._json(dict(ex.info(), initial=self.server.initial))
        elif path == "/api/state":
            p = _params(query, {"levels": int, "mu": int}, ("levels", "mu"))
            self._json(ex.state(p["levels"], p["mu"]))
        elif path.startswith("/api/image/") and path.endswith(".png"):
            kind = path[len("/api/image/"):-len(".png")]
            if kind not in _IMAGES:
                raise _BadRequest(404, f"no image {kind[:40]!r}; images: {', '.join(_IMAGES)}")
            if kind == "input":
                _params(query, {}, ())
                body = ex.input_png()
            else:
                p = _params(query, {"levels": int, "mu": int}, ("levels", "mu"))
                body = ex.image_png(kind, p["levels"], p["mu"])
            self._send(200, body, "image/png")
        elif path == "/api/filter":
            p = _params(query, {"levels": int, "mu": int, "y": int, "x": int, "mode": str},
                        ("levels", "mu", "y", "x"))
            mode = p.get("mode", "luma")
            if mode not in MODES:
                raise _BadRequest(400, f"mode must be one of {', '.join(MODES)}, got {mode[:40]!r}")
            self._json(ex.filter(p["levels"], p["mu"], p["y"], p["x"], mode=mode, cancelled=self.client_gone))
        else:
            raise _BadRequest(404, f"no such page {path[:80]!r}")


class ExploreServer(ThreadingHTTPServer):
    """A :class:`~http.server.ThreadingHTTPServer` on 127.0.0.1 serving one :class:`Explorer`.

    Parameters
    ----------
    explorer : Explorer
    port : int
        0 picks a free port (see :attr:`port`).
    initial : (int, int)
        (levels, µ) the page opens with.
    verbose : bool
        Log every request on stderr.
    """

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, explorer, *, port=0, initial=(2, 2), verbose=False):
        self.explorer, self.verbose = explorer, bool(verbose)
        self.initial = {"levels": int(initial[0]), "mu": int(initial[1])}
        super().__init__(("127.0.0.1", int(port)), _Handler)
        self.port = self.server_address[1]
        self.address = f"127.0.0.1:{self.port}"
        self.allowed_hosts = {f"127.0.0.1:{self.port}", f"localhost:{self.port}"}
        self.allowed_origins = {f"http://{h}" for h in self.allowed_hosts}

    @property
    def url(self):
        return f"http://{self.address}/"


def make_server(explorer, *, port=0, initial=(2, 2), verbose=False):
    """An :class:`ExploreServer` bound to 127.0.0.1 (not yet serving; call ``serve_forever``)."""
    return ExploreServer(explorer, port=port, initial=initial, verbose=verbose)


def serve(server, *, open_browser=True, warm=True, echo=print):
    """Serve until Ctrl-C, then close the socket and return.

    Parameters
    ----------
    server : ExploreServer
    open_browser : bool
        Open the page in the default browser.
    warm : bool
        Compute the initial state in the background right away (the page waits for it anyway).
    echo : callable
        Where the address and the stop message go.
    """
    if warm:
        lv, mu = server.initial["levels"], server.initial["mu"]
        threading.Thread(target=_warm, args=(server.explorer, lv, mu), daemon=True).start()
    echo(f"explore: serving {server.url} (Ctrl-C to stop)")
    if open_browser:
        import webbrowser
        threading.Timer(0.3, webbrowser.open, args=(server.url,)).start()
    try:
        server.serve_forever(poll_interval=0.25)
    except KeyboardInterrupt:
        echo("explore: stopped")
    finally:
        server.server_close()


def _warm(explorer, levels, mu):
    try:
        explorer.state(levels, mu)
    except Exception as exc:                       # the page's own request reports it
        sys.stderr.write(f"explore: could not compute the initial state: {exc}\n")
