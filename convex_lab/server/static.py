"""The official npm `convex` client for pages an App serves: `GET /static/convex_browser.js`.

A page an HTTP action returns is served by the same server, so its module script can
`import { ConvexClient } from "/static/convex_browser.js"` and connect with
`new ConvexClient(location.origin)`: no npm, no CDN, and the client is the version convex_lab is
tested with (js/package-lock.json pins it; js/build.mjs bundles it into convex_lab/static/).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from .http_api import BaseHandler
from .wire import HttpError

if TYPE_CHECKING:  # pragma: no cover
    from .server import Server

STATIC = Path(__file__).resolve().parent.parent / "static"
PREFIX = "/static/"
# The files served, and their types. The widget bundles in the same folder are anywidget's, not
# the server's.
FILES = {"convex_browser.js": "text/javascript; charset=utf-8"}


class StaticHandler(BaseHandler):
    """`GET`/`HEAD` of one bundled file.

    The URL stays the same when convex_lab (and so the bundle) changes, so browsers revalidate
    on each load (`no-cache`) and get 304 while the ETag (the content's hash, which tornado
    computes and checks) still matches. Any origin may load it, as any may call the API.
    """

    def get(self, name: str) -> None:
        try:
            content = (STATIC / name).read_bytes()
        except FileNotFoundError:
            raise HttpError(404, "NotFound", f"{name} is missing from this convex_lab installation; "
                                             "reinstall convex_lab.") from None
        self.set_header("Content-Type", FILES[name])
        self.set_header("Cache-Control", "no-cache")
        self.set_header("Access-Control-Allow-Origin", "*")
        self.set_header("X-Content-Type-Options", "nosniff")
        self.finish(content)

    head = get


def routes(server: "Server") -> list:
    names = "|".join(name.replace(".", r"\.") for name in FILES)
    return [(rf"{PREFIX}({names})", StaticHandler, {"server": server})]
