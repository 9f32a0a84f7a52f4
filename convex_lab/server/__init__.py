"""The network face of an App: Convex's HTTP API on a tornado server of its own thread.

`server.py` runs the tornado application (its thread, IOLoop and worker pool); `http_api.py`
answers the function endpoints, `http_actions.py` the HTTP actions under `/http/`; `wire.py`
holds the request and response formats. `App.serve`
starts a `Server`; everything here reaches the App only through the object it is given.
"""

from .server import Server

__all__ = ["Server"]
