"""`LiveView`: the widget a live query renders into (`%%live` cells and `app.live`).

A thin anywidget: the Python side turns each delivered result into traits (a page of table rows,
pandas HTML, a value, or an error); `static/live_view.js` (built from `js/`) draws them. Results
arrive through a `notifier_only` subscription, so the notifier thread is the single writer of these
traits, from the first render on; page turns are posted to it too.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import anywidget
import traitlets

from ..values import Int64, display_value, values_equal

STATIC = Path(__file__).resolve().parent.parent / "static"
HTML_KEY = "__convex_lab_html__"  # a %%live cell's pandas result, as HTML (see notebook/__init__.py)
PAGE_SIZE = 50


def json_safe(value: Any) -> Any:
    """A Convex value as plain JSON for the browser (Int64 as int, bytes and non-finite floats as text)."""
    t = type(value)
    if t is str or t is bool or value is None:
        return value
    if t is float:
        return value if math.isfinite(value) else display_value(value)
    if t is Int64:  # beyond 2^53 a JavaScript number would round it: send the digits
        return int(value) if -(2**53) <= value <= 2**53 else str(int(value))
    if t is bytes:
        return display_value(value)
    if t is list:
        return [json_safe(x) for x in value]
    if t is dict:
        return {k: json_safe(x) for k, x in value.items()}
    return repr(value)


def is_document_list(result: Any) -> bool:
    return type(result) is list and bool(result) and all(type(d) is dict and "_id" in d for d in result)


def as_documents(result: Any) -> tuple[list[dict], str] | None:
    """The documents a result shows as a table, with a note saying what they are; None when the
    result is not documents. Lists of documents, one document (`db.get`, `.first()`, `.unique()`)
    and a page of a paginated query (`.paginate(...)`) are tables."""
    if is_document_list(result):
        return result, ""
    if result == [] and type(result) is list:
        return [], ""  # a live table that has not filled up yet (or was emptied)
    if type(result) is not dict:
        return None
    if "_id" in result and "_creationTime" in result:
        return [result], "one document"
    if {"page", "isDone", "continueCursor"} <= result.keys() and (
            result["page"] == [] or is_document_list(result["page"])):
        more = "last page" if result["isDone"] else "more pages follow"
        return result["page"], f"paginated: {len(result['page'])} on this page, {more}"
    return None


class LiveView(anywidget.AnyWidget):
    """A Jupyter widget showing a live query's latest result, created by `%%live` and `app.live`.

    It re-renders on every change of the result: lists of documents (also one document, and a
    page of `.paginate`) as a table of 50 rows per page, whose new or changed rows flash; a
    pandas result of a `%%live` cell as its HTML; any other value as text; a failure as the
    error. Its header shows how many times the query ran, how long the last run took, the read
    set and what caused the last re-run. Where widgets do not render, its `repr` says the path,
    what it shows and the run count.

    Its state is readable from Python (these are synced widget traits, written by convex_lab;
    treat them as read-only, except `page`):

    Attributes:
        subscription (Subscription): The view's subscription (`.read_set`, `.reruns`, ...;
            `view.subscription.unsubscribe()` stops the view).
        path (str): The query's path.
        kind (str): What it shows: `"table"`, `"value"`, `"html"` or `"error"`.
        columns (list[str]): The table's columns (fields, then `_id` and `_creationTime`).
        rows (list[dict]): The documents of the current table page.
        total (int): How many documents the table has.
        page (int): The table page shown (0-based); setting it turns the page.
        page_size (int): Rows per table page.
        value_repr (str): The value's text, when `kind` is `"value"`.
        html (str): The pandas HTML, when `kind` is `"html"`.
        note (str): What the table shows (`"one document"`, a paginated page, ...).
        error (str): `"TypeName: message"` of the failure, when `kind` is `"error"`.
        runs (int): How many times the query ran.
        last_ms (float): How long the last run took, in milliseconds.
        read_set (list[str]): The last run's read set (as `Subscription.read_set`).
        last_reason (str): What caused the last re-run.
    """

    _esm = STATIC / "live_view.js"
    _css = STATIC / "live_view.css"

    path = traitlets.Unicode("").tag(sync=True)
    kind = traitlets.Unicode("value").tag(sync=True)  # "table" | "value" | "html" | "error"
    columns = traitlets.List(traitlets.Unicode()).tag(sync=True)
    rows = traitlets.List().tag(sync=True)
    total = traitlets.Int(0).tag(sync=True)
    page = traitlets.Int(0).tag(sync=True)
    page_size = traitlets.Int(PAGE_SIZE).tag(sync=True)
    changed_ids = traitlets.List(traitlets.Unicode()).tag(sync=True)
    value_repr = traitlets.Unicode("").tag(sync=True)
    html = traitlets.Unicode("").tag(sync=True)  # a pandas result, rendered by pandas
    note = traitlets.Unicode("").tag(sync=True)  # what the table shows ("one document", a page, ...)
    error = traitlets.Unicode("").tag(sync=True)
    runs = traitlets.Int(0).tag(sync=True)
    last_ms = traitlets.Float(0.0).tag(sync=True)  # how long the last run took
    read_set = traitlets.List(traitlets.Unicode()).tag(sync=True)
    last_reason = traitlets.Unicode("").tag(sync=True)

    def __init__(self, path: str = "", **kwargs: Any) -> None:
        super().__init__(path=path, **kwargs)
        self._documents: list[dict] = []  # the table's documents, as last delivered
        self.subscription: Any = None

    # -- called with each delivered result (on the notifier thread) --------------------------
    def show_result(self, result: Any) -> None:
        with self.hold_sync():
            self._update_meta()
            self.error = ""
            table = as_documents(result)
            self.note = table[1] if table is not None else ""
            if table is not None:
                documents = table[0]
                previous = {d["_id"]: d for d in self._documents}
                self._documents = documents
                columns: dict[str, None] = {"_id": None, "_creationTime": None}
                for doc in documents:
                    for field in doc:
                        columns.setdefault(field, None)
                self.columns = [c for c in columns if c not in ("_id", "_creationTime")] + ["_id", "_creationTime"]
                self.total = len(documents)
                self.page = min(self.page, max(0, (len(documents) - 1) // self.page_size))
                # Rows new or different since the last table (none on the first): they flash.
                self.changed_ids = [d["_id"] for d in documents if previous and not (
                    d["_id"] in previous and values_equal(previous[d["_id"]], d))]
                self._send_page()
                self.kind = "table"
            elif type(result) is dict and set(result) == {HTML_KEY} and type(result[HTML_KEY]) is str:
                self._documents = []
                self.html = result[HTML_KEY]
                self.kind = "html"
            else:
                self._documents = []
                self.value_repr = _pretty(result)
                self.kind = "value"

    def show_error(self, exc: BaseException) -> None:
        with self.hold_sync():
            self._update_meta()
            self.error = f"{type(exc).__name__}: {exc}"
            self.kind = "error"

    def _update_meta(self) -> None:
        sub = self.subscription
        if sub is None:
            return
        self.runs = sub.runs
        self.last_ms = sub.last_ms
        self.read_set = sub.read_set
        reruns = sub.reruns
        if reruns:
            why = reruns[-1]
            if why.change == "redefined":
                self.last_reason = f"{why.doc_id} was redefined"
            else:
                self.last_reason = f"commit {why.ts}: {why.change} of {why.doc_id} in {why.table}.{why.index}"

    def _send_page(self) -> None:
        start = self.page * self.page_size
        self.rows = [json_safe(d) for d in self._documents[start:start + self.page_size]]

    @traitlets.observe("page")
    def _page_changed(self, change: dict) -> None:
        # The frontend sets `page` (on the kernel thread); the rows are written by the notifier.
        if self.subscription is not None:
            self.subscription.call_soon(self._turn_page)

    def _turn_page(self) -> None:
        if self._documents:
            self._send_page()

    def __repr__(self) -> str:  # the plain-text fallback where widgets do not render
        return f"<LiveView {self.path} {self.kind}, runs: {self.runs}>"


MAX_VALUE_CHARS = 20_000  # a value's text beyond this is cut: the browser gets a preview, not megabytes


def _pretty(value: Any) -> str:
    import pprint

    if type(value) is list and len(value) > 1_000:  # do not format what will be cut anyway
        text = pprint.pformat(json_safe(value[:1_000]), width=100, sort_dicts=False)
        return _cut(text, f"{len(value):,} items")
    return _cut(pprint.pformat(json_safe(value), width=100, sort_dicts=False), "")


def _cut(text: str, items: str) -> str:
    """`text`, or its start and a line saying what was left out (`items` names the whole, if known)."""
    if len(text) <= MAX_VALUE_CHARS and not items:
        return text
    whole = items or f"{len(text):,} characters"
    return f"{text[:MAX_VALUE_CHARS]}\n… (cut for display: {whole})"
