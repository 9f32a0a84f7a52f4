"""The query builder: index ranges, order, filters, terminals and pagination cursors.

Each builder object is used once (as in Convex): every call returns a new object and reusing an
old one raises `QueryReused` with a hint. Index ranges are compiled to one byte interval of the
index and checked against the index's fields when built. Scans read in small batches from the
`SortedDict`, resuming after the last key, so user code may write between items of an iteration.
"""

from __future__ import annotations

import base64
import math
import zlib
from itertools import islice
from typing import TYPE_CHECKING, Any, Callable, Iterator

from ..errors import (
    EvalError,
    IndexNotFoundError,
    InvalidArgument,
    InvalidCursor,
    InvalidIndexRange,
    MultiplePaginatedDatabaseQueries,
    NoDocumentsForPagination,
    PageSizeTooLarge,
    QueryReused,
    UniqueQueryError,
)
from ..keys import encode_value, prefix_end, successor
from ..values import UNSET, Int64, convex_value, display_value
from .store import BY_CREATION_TIME, BY_ID, Index, field_getter

if TYPE_CHECKING:  # pragma: no cover
    from .transaction import Transaction

MAX_PAGE_SIZE = 32_000  # numItems above this is PageSizeTooLarge
SPLIT_RECOMMENDED_ITEMS = 6_144
_BATCH = 64  # keys fetched per SortedDict slice during a scan


# ---------------------------------------------------------------------------------------------
# Index ranges


class IndexRange:
    """The `q` of `with_index(name, lambda q: ...)`: the range of the index to read.

    Chain `eq` on a prefix of the index's fields (in order), then optionally one lower bound
    (`gt`/`gte`) and one upper bound (`lt`/`lte`) on the next field:
    `lambda q: q.eq("room", "a").gte("score", 10.0).lt("score", 20.0)`. Each method returns a
    new range (reusing an old one raises `QueryReused`); the range is checked against the index
    when `with_index` runs, raising `InvalidIndexRange` if it does not follow these rules.
    Values are converted without a validator, so a Python int becomes a float: compare an
    `v.int64()` field with `Int64(5)`, not `5`.
    """

    __slots__ = ("_exprs", "_used")

    def __init__(self, exprs: tuple = ()) -> None:
        self._exprs = exprs
        self._used = False

    def _add(self, op: str, field: Any, value: Any) -> IndexRange:
        if self._used:
            raise QueryReused(
                "IndexRangeBuilder has already been used! Chain your method calls like "
                "`q => q.eq(...).eq(...)`. See https://docs.convex.dev/using/indexes"
            )
        self._used = True
        if type(field) is not str:
            raise InvalidIndexRange(f"The field name passed to `q.{op}` must be a string, got {field!r}.")
        converted = value if value is UNSET else convex_value(value, "")
        return IndexRange(self._exprs + ((op, field, converted),))

    def eq(self, field: str, value: Any) -> IndexRange:
        """Documents whose `field` equals `value` (a Convex value; `UNSET` matches a missing field)."""
        return self._add("eq", field, value)

    def gt(self, field: str, value: Any) -> IndexRange:
        """Documents whose `field` is greater than `value`, in Convex's order of values."""
        return self._add("gt", field, value)

    def gte(self, field: str, value: Any) -> IndexRange:
        """Documents whose `field` is greater than or equal to `value`."""
        return self._add("gte", field, value)

    def lt(self, field: str, value: Any) -> IndexRange:
        """Documents whose `field` is less than `value`."""
        return self._add("lt", field, value)

    def lte(self, field: str, value: Any) -> IndexRange:
        """Documents whose `field` is less than or equal to `value`."""
        return self._add("lte", field, value)


def compile_range(index: Index, exprs: tuple) -> tuple[bytes, bytes | None]:
    """Check `exprs` against Convex's rules for `index` and return its key interval [lo, hi).

    Rules: eq fields form a prefix of the index fields (in any order); at most one further field,
    the next one, has bounds; at most one lower and one upper bound. O(fields).
    """
    fields = index.full_fields
    name = f"{index.table}.{index.name}"
    eqs: dict[str, Any] = {}
    lower: tuple[str, str, Any] | None = None
    upper: tuple[str, str, Any] | None = None
    range_field: str | None = None
    for op, field, value in exprs:
        if field not in fields:
            raise InvalidIndexRange(
                f"Uh oh! Index range for index {name} uses the field `{field}`, which is not in the index. "
                f"Fields in the index: {list(fields)}."
            )
        if op == "eq":
            if field in eqs or field == range_field:
                raise InvalidIndexRange(f"Uh oh! Index range for index {name} already defined a bound for the field `{field}`.")
            eqs[field] = value
            continue
        if range_field is not None and field != range_field:
            raise InvalidIndexRange(
                f"Uh oh! Index range for index {name} puts bounds on multiple fields (`{range_field}` and `{field}`). "
                "Only one field may have gt/gte/lt/lte bounds, after the eq fields."
            )
        if field in eqs:
            raise InvalidIndexRange(f"Uh oh! Index range for index {name} already defined a bound for the field `{field}`.")
        range_field = field
        if op in ("gt", "gte"):
            if lower is not None:
                raise InvalidIndexRange(f"Uh oh! Index range for index {name} already defined a lower bound for the field `{field}`.")
            lower = (op, field, value)
        else:
            if upper is not None:
                raise InvalidIndexRange(f"Uh oh! Index range for index {name} already defined an upper bound for the field `{field}`.")
            upper = (op, field, value)
    used = list(eqs) + ([range_field] if range_field else [])
    expected = list(fields[: len(eqs)])
    if set(eqs) != set(expected) or (range_field is not None and (len(eqs) >= len(fields) or fields[len(eqs)] != range_field)):
        raise InvalidIndexRange(
            f"Uh oh! Index range for index {name} didn't use the index fields in order. "
            f"Fields in the index: {list(fields)}; fields in the range: {used}. "
            "Use eq on a prefix of the index fields, then at most one range on the next field."
        )
    prefix = b"".join(encode_value(eqs[f]) for f in expected)
    lo = prefix
    if lower is not None:
        key = prefix + encode_value(lower[2])
        lo = prefix_end(key) if lower[0] == "gt" else key
    if upper is not None:
        key = prefix + encode_value(upper[2])
        hi: bytes | None = prefix_end(key) if upper[0] == "lte" else key
    else:
        hi = prefix_end(prefix) if prefix else None
    return lo, hi


# ---------------------------------------------------------------------------------------------
# Filters


class Expr:
    """A filter expression, built with the `q` of `.filter(lambda q: ...)`.

    Combine expressions with `q.and_`, `q.or_` and `q.not_`: Python's `and`, `or`, `not` (and
    `if expr:`) raise `TypeError`, since an expression has no truth value until it runs.
    """

    __slots__ = ("op", "args")

    def __init__(self, op: str, args: tuple) -> None:
        self.op = op
        self.args = args

    def __bool__(self) -> bool:
        raise TypeError(
            "A filter expression cannot be used as a Python bool; use q.and_(...), q.or_(...) and q.not_(...) "
            "instead of `and`, `or` and `not`."
        )


def _operand(x: Any) -> Expr:
    if isinstance(x, Expr):
        return x
    return Expr("literal", (x if x is UNSET else convex_value(x, ""),))


class FilterBuilder:
    """The `q` of `.filter(lambda q: ...)`: Convex's filter expression operators.

    Each operator takes expressions or plain values (converted without a validator: a Python
    int becomes a float, so compare an int64 field with `Int64(5)`) and returns an `Expr`.
    The predicate must produce a boolean expression; it is evaluated for each document the
    query reads, and documents for which it is false are skipped (they still count as read).
    Comparisons use Convex's total order of values, across types; arithmetic needs two float64
    or two int64 operands and raises `EvalError` otherwise.

    Examples:
        >>> ctx.db.query("messages").filter(
        ...     lambda q: q.and_(q.eq(q.field("room"), "a"), q.gt(q.field("likes"), 3.0))
        ... ).collect()  # doctest: +SKIP
    """

    def field(self, path: str) -> Expr:
        """The value of a document's field: `q.field("room")`, or a nested `q.field("author.name")`.

        A missing field is `UNSET`, which sorts before every other value.

        Raises:
            InvalidArgument: `path` is not a string.
        """
        if type(path) is not str:
            raise InvalidArgument(f"q.field takes a field path string, got {path!r}.")
        return Expr("field", (path,))

    def _binary(op: str):  # noqa: N805 - a small factory used in the class body
        def method(self, left: Any, right: Any) -> Expr:
            return Expr(op, (_operand(left), _operand(right)))

        method.__name__ = op
        return method

    eq = _binary("eq")
    """`q.eq(left, right)`: true when the two values are equal (Convex equality)."""
    neq = _binary("neq")
    """`q.neq(left, right)`: true when the two values differ."""
    lt = _binary("lt")
    """`q.lt(left, right)`: `left < right` in Convex's order of values."""
    lte = _binary("lte")
    """`q.lte(left, right)`: `left <= right` in Convex's order of values."""
    gt = _binary("gt")
    """`q.gt(left, right)`: `left > right` in Convex's order of values."""
    gte = _binary("gte")
    """`q.gte(left, right)`: `left >= right` in Convex's order of values."""
    add = _binary("add")
    """`q.add(left, right)`: the sum (both float64 or both int64; int64 overflow raises `EvalError`)."""
    sub = _binary("sub")
    """`q.sub(left, right)`: the difference."""
    mul = _binary("mul")
    """`q.mul(left, right)`: the product."""
    div = _binary("div")
    """`q.div(left, right)`: the quotient (int64 division truncates toward zero; int64 division by zero raises `EvalError`)."""
    mod = _binary("mod")
    """`q.mod(left, right)`: the remainder, with the sign of `left`."""
    del _binary

    def neg(self, x: Any) -> Expr:
        """`-x`, for a float64 or int64 value."""
        return Expr("neg", (_operand(x),))

    def not_(self, x: Any) -> Expr:
        """Logical not of a boolean expression (a non-boolean raises `EvalError`)."""
        return Expr("not", (_operand(x),))

    def and_(self, *xs: Any) -> Expr:
        """True when every boolean expression is true (`q.and_()` with none is true)."""
        return Expr("and", tuple(_operand(x) for x in xs))

    def or_(self, *xs: Any) -> Expr:
        """True when at least one boolean expression is true (`q.or_()` with none is false)."""
        return Expr("or", tuple(_operand(x) for x in xs))


_I64_MIN, _I64_MAX = -(2**63), 2**63 - 1


def _as_bool(value: Any) -> bool:
    if type(value) is not bool:
        raise EvalError(f"Cannot use value {display_value(value)} as a Boolean in a filter expression.")
    return value


def _arith(op: str, a: Any, b: Any) -> Any:
    ta, tb = type(a), type(b)
    if ta is Int64 and tb is Int64:
        if op == "add":
            r = int(a) + int(b)
        elif op == "sub":
            r = int(a) - int(b)
        elif op == "mul":
            r = int(a) * int(b)
        else:
            if b == 0:
                raise EvalError(f"Division by zero in filter expression: {display_value(a)} {op} {display_value(b)}.")
            q = abs(int(a)) // abs(int(b))  # Int64 division truncates toward zero
            q = q if (a < 0) == (b < 0) else -q
            r = q if op == "div" else int(a) - q * int(b)
        if not _I64_MIN <= r <= _I64_MAX:
            raise EvalError(f"Int64 overflow in filter expression: {display_value(a)} {op} {display_value(b)}.")
        return Int64(r)
    if ta is float and tb is float:
        if op == "add":
            return a + b
        if op == "sub":
            return a - b
        if op == "mul":
            return a * b
        if op == "div":
            if b == 0.0:
                if a == 0.0 or math.isnan(a):
                    return math.nan
                return math.copysign(math.inf, a) * math.copysign(1.0, b)
            return a / b
        if b == 0.0 or math.isinf(a):
            return math.nan
        return math.fmod(a, b)
    raise EvalError(
        f"Cannot {op} values of different or non-numeric types in a filter expression: "
        f"{display_value(a)} and {display_value(b)}. Both must be float64 or both int64."
    )


def compile_expr(expr: Expr) -> Callable[[dict], Any]:
    """Turn an expression tree into a function of the document. Comparisons use Convex's order."""
    op, args = expr.op, expr.args
    if op == "literal":
        value = args[0]
        return lambda doc: value
    if op == "field":
        return field_getter(args[0])
    if op in ("eq", "neq", "lt", "lte", "gt", "gte"):
        left, right = args
        if left.op == "field" and right.op == "literal":
            get = field_getter(left.args[0])
            key = encode_value(right.args[0])
            if op == "eq":
                return lambda doc: encode_value(get(doc)) == key
            if op == "neq":
                return lambda doc: encode_value(get(doc)) != key
            if op == "lt":
                return lambda doc: encode_value(get(doc)) < key
            if op == "lte":
                return lambda doc: encode_value(get(doc)) <= key
            if op == "gt":
                return lambda doc: encode_value(get(doc)) > key
            return lambda doc: encode_value(get(doc)) >= key
        fl, fr = compile_expr(left), compile_expr(right)
        cmp = {
            "eq": bytes.__eq__, "neq": bytes.__ne__, "lt": bytes.__lt__,
            "lte": bytes.__le__, "gt": bytes.__gt__, "gte": bytes.__ge__,
        }[op]
        return lambda doc: cmp(encode_value(fl(doc)), encode_value(fr(doc)))
    if op in ("add", "sub", "mul", "div", "mod"):
        fl, fr = compile_expr(args[0]), compile_expr(args[1])
        return lambda doc: _arith(op, fl(doc), fr(doc))
    if op == "neg":
        f = compile_expr(args[0])

        def neg(doc: dict) -> Any:
            x = f(doc)
            if type(x) is Int64:
                if x == _I64_MIN:
                    raise EvalError("Int64 overflow in filter expression: negating the minimum Int64.")
                return Int64(-int(x))
            if type(x) is float:
                return -x
            raise EvalError(f"Cannot negate {display_value(x)} in a filter expression: it is not a number.")

        return neg
    if op == "not":
        f = compile_expr(args[0])
        return lambda doc: not _as_bool(f(doc))
    if op in ("and", "or"):
        fs = [compile_expr(a) for a in args]
        if op == "and":
            return lambda doc: all(_as_bool(f(doc)) for f in fs)
        return lambda doc: any(_as_bool(f(doc)) for f in fs)
    raise InvalidArgument(f"Unknown filter operator {op!r}.")  # pragma: no cover


# ---------------------------------------------------------------------------------------------
# Cursors: "strictly after index key K" or "the end", tagged with the query's source so a cursor
# from another query is refused.


def _source_tag(table: str, index: str, order: str) -> bytes:
    return zlib.crc32(f"{table}.{index}.{order}".encode()).to_bytes(4, "big")


def make_cursor(tag: bytes, key: bytes | None) -> str:
    raw = tag + (b"\x02" if key is None else b"\x01" + key)
    return base64.urlsafe_b64encode(raw).decode("ascii")


def parse_cursor(tag: bytes, cursor: Any) -> bytes | None:
    """The key a cursor points after, or None for the end. Raises InvalidCursor."""
    try:
        raw = base64.urlsafe_b64decode(cursor.encode("ascii"))
    except Exception:
        raw = b""
    if len(raw) < 5 or raw[:4] != tag or raw[4] not in (1, 2):
        raise InvalidCursor(
            f"Invalid pagination cursor {cursor!r}: it is malformed or was returned by a different query. "
            "Pass `cursor: None` to start from the beginning."
        )
    return None if raw[4] == 2 else raw[5:]


# A query journal is what a live query's run hands its next run (Convex's `QueryJournal`): today
# the end cursor of its paginated query. Clients hold it as an opaque string and send it back when
# they subscribe again, so the page keeps its boundary across reconnects.
_JOURNAL_PREFIX = "journal1:"


def encode_journal(end_cursor: str | None) -> str | None:
    """A run's journal as clients are sent it: a string, or `None` when the run did not paginate."""
    return None if end_cursor is None else _JOURNAL_PREFIX + end_cursor


def decode_journal(text: str | None) -> str | None:
    """The end cursor of a journal a client sent back (`None` for none). Raises InvalidCursor."""
    if text is None:
        return None
    if not isinstance(text, str) or not text.startswith(_JOURNAL_PREFIX) or len(text) == len(_JOURNAL_PREFIX):
        raise InvalidCursor(f"Invalid query journal {text!r}: send back the journal this deployment sent, or null.")
    return text[len(_JOURNAL_PREFIX):]


# ---------------------------------------------------------------------------------------------
# The builder


def _count(n: Any, what: str, name: str = "Arg 1 `n`") -> int:
    """`n` as an int; `name` is how the user passed it (`take(n)`, or `numItems` to `paginate`).
    Counts arrive as floats from clients; an integral float such as 2.0 is accepted."""
    if type(n) is bool or not isinstance(n, (int, float)) or (isinstance(n, float) and not n.is_integer()) or n < 0:
        raise InvalidArgument(f"{name} to `{what}` must be a non-negative integer, got {n!r}.")
    return int(n)


class Query:
    """A query over one table: `ctx.db.query(table)` and everything chained after it.

    Build it in order: at most one source (`with_index` or `full_table_scan`, right after
    `db.query`), then `order` and any number of `filter`s, then one terminal: `collect`, `take`,
    `first`, `unique`, `paginate`, or a `for` loop. Without `with_index` the query reads the
    table in `_creationTime` order (the `by_creation_time` index). Each method returns a new
    query and uses up the one it was called on: calling a method on a query object a second
    time raises `QueryReused`, so chain the calls.

    What a query reads is its read set: only the index range it scanned (up to where a
    `take`/`first`/`paginate` stopped), which is what makes live queries re-run precisely.

    Examples:
        >>> (ctx.db.query("messages")
        ...     .with_index("by_room", lambda q: q.eq("room", "a"))
        ...     .order("desc")
        ...     .take(10))  # doctest: +SKIP
    """

    __slots__ = ("_txn", "_table", "_index", "_range", "_order", "_filters", "_stage", "_used", "_scan_end")

    def __init__(self, txn: "Transaction", table: str, index: str = BY_CREATION_TIME,
                 rng: tuple[bytes, bytes | None] = (b"", None), order: str | None = None,
                 filters: tuple = (), stage: int = 0) -> None:
        self._txn = txn
        self._table = table
        self._index = index
        self._range = rng
        self._order = order
        self._filters = filters
        self._stage = stage  # 0: fresh from db.query; 1: source chosen
        self._used = False
        self._scan_end: tuple[bool, bytes | None] = (False, None)  # (exhausted, last key read)

    def __repr__(self) -> str:
        return f"<Query {self._table}.{self._index} order={self._order or 'asc'}>"

    def _consume(self) -> None:
        if self._used:
            raise QueryReused(
                "This query is closed after being used: each query object can be used once. "
                "Chain the calls (`db.query(t).with_index(...).order(...).collect()`) or build a new query."
            )
        self._used = True

    def _take_over(self, **changes: Any) -> Query:
        if self._used:
            raise QueryReused(
                "This query is closed after being used: each query object can be used once. "
                "Chain the calls (`db.query(t).with_index(...).order(...).collect()`) or build a new query."
            )
        self._used = True
        state = {
            "index": self._index, "rng": self._range, "order": self._order,
            "filters": self._filters, "stage": self._stage,
        }
        state.update(changes)
        return Query(self._txn, self._table, **state)

    def _lookup_index(self, name: str) -> Index | None:
        table = self._txn.store.tables.get(self._table)
        if table is not None:
            index = table.indexes.get(name)
            if index is None:
                raise IndexNotFoundError(f"Index {self._table}.{name} not found.")
            return index
        if name in (BY_ID, BY_CREATION_TIME):
            return None
        fields = self._txn.catalog.index_fields(self._table, name)
        if fields is None:
            raise IndexNotFoundError(f"Index {self._table}.{name} not found.")
        return Index(self._table, name, fields)

    # -- sources ----------------------------------------------------------------------------
    def with_index(self, name: str, range_fn: Callable[[IndexRange], IndexRange] | None = None) -> Query:
        """Read through the index `name`, limited to the range that `range_fn` builds.

        Documents come in the index's order (its fields, then `_creationTime`). Besides the
        schema's indexes, every table has `by_creation_time` and `by_id`.

        Args:
            name: The index's name.
            range_fn: `lambda q: q.eq(...)...` on an `IndexRange`; `None` reads the whole index.

        Returns:
            The query, reading that index range.

        Raises:
            IndexNotFoundError: The table has no index `name`.
            InvalidIndexRange: The range does not follow the index's fields (checked here,
                before anything is read).
            InvalidArgument: `with_index` does not come directly after `db.query(table)`.
        """
        if self._stage != 0:
            raise InvalidArgument("with_index must come directly after db.query(table).")
        index = self._lookup_index(name)
        exprs: tuple = ()
        if range_fn is not None:
            builder = range_fn(IndexRange())
            if not isinstance(builder, IndexRange):
                raise InvalidIndexRange(
                    "The range function passed to with_index must return the range builder "
                    "(e.g. `lambda q: q.eq(\"room\", r)`)."
                )
            exprs = builder._exprs
        if index is None:  # a built-in index of a table that does not exist yet
            index = Index(self._table, name, ())
        rng = compile_range(index, exprs)
        return self._take_over(index=name, rng=rng, stage=1)

    def full_table_scan(self) -> Query:
        """Read the whole table in `_creationTime` order (the default; this states it explicitly)."""
        if self._stage != 0:
            raise InvalidArgument("full_table_scan must come directly after db.query(table).")
        return self._take_over(stage=1)

    def with_search_index(self, name: str, search_fn: Callable | None = None) -> Query:
        """Full-text search is not available yet: always raises `InvalidArgument`.

        Search indexes can be declared in a schema (`search_index`) and are kept, but cannot be
        queried yet.
        """
        raise InvalidArgument(
            f"Search index {self._table}.{name}: full-text search queries are not available yet in convex_lab; "
            "the search index definition is kept and will be queryable when search lands."
        )

    # -- shaping ----------------------------------------------------------------------------
    def order(self, order: str) -> Query:
        """Return documents in `"asc"` (the default) or `"desc"` order of the index.

        Raises:
            InvalidArgument: `order` is neither `"asc"` nor `"desc"`, or was already given.
        """
        if order not in ("asc", "desc"):
            raise InvalidArgument(f'order must be "asc" or "desc", got {order!r}.')
        if self._order is not None:
            raise InvalidArgument("Queries may only specify order at most once.")
        return self._take_over(order=order, stage=1)

    def filter(self, predicate: Callable[[FilterBuilder], Any]) -> Query:
        """Keep only the documents for which `predicate(q)` is true.

        `predicate` receives a `FilterBuilder` and returns a boolean expression. Filters do not
        narrow what is read: the query still scans its whole index range, so prefer an index
        range for selective conditions.

        Raises:
            EvalError: When the query runs, the expression is not a boolean for some document,
                or its arithmetic fails.
        """
        expr = predicate(FilterBuilder())
        if not isinstance(expr, Expr):
            expr = _operand(expr)
        return self._take_over(filters=self._filters + (compile_expr(expr),), stage=1)

    # -- execution --------------------------------------------------------------------------
    def _read(self, lo: bytes, hi: bytes | None, limit: int | None, stop_rows: int | None = None,
              stop_bytes: int | None = None) -> tuple[list[tuple[bytes, dict]], bool, bytes | None]:
        """Read matching `(key, document copy)` pairs in order from [lo, hi), up to `limit`.

        Returns `(items, exhausted, last key read)` and records nothing. Keys are fetched in
        slices of the SortedDict (as many as still needed when there is no filter), so the cost is
        O(log n + documents read). `stop_rows`/`stop_bytes` end the read early (pagination's
        maximumRowsRead/BytesRead); filtered-out documents count as read.
        """
        txn = self._txn
        table = txn.store.tables.get(self._table)
        if table is None or (hi is not None and lo >= hi):
            return [], True, None
        entries = table.index_entries(table.indexes[self._index])
        desc = self._order == "desc"
        filters = self._filters
        items: list[tuple[bytes, dict]] = []
        last_key: bytes | None = None
        rows = nbytes = 0
        count_read, copy_out, get = txn.count_read, txn.copy_out, entries.get
        while True:
            want = _BATCH if (filters or limit is None) else max(limit - len(items), 1)
            batch = list(islice(entries.irange(lo, hi, (True, False), reverse=desc), want))
            for key in batch:
                doc = get(key)
                doc_id = doc["_id"]
                count_read(table, doc_id)
                last_key = key
                rows += 1
                if stop_bytes is not None:
                    nbytes += table.size_of(doc_id)
                passed = True
                for f in filters:
                    if not _as_bool(f(doc)):
                        passed = False
                        break
                if passed:
                    items.append((key, copy_out(table, doc)))
                    if limit is not None and len(items) >= limit:
                        return items, False, last_key
                if (stop_rows is not None and rows >= stop_rows) or (stop_bytes is not None and nbytes >= stop_bytes):
                    return items, False, last_key
            if len(batch) < want:
                return items, True, last_key
            if desc:
                hi = batch[-1]
            else:
                lo = successor(batch[-1])

    def _record(self, lo: bytes, hi: bytes | None, exhausted: bool, last_key: bytes | None) -> None:
        """Record the interval a read observed: all of [lo, hi) when exhausted (or when nothing
        was read), else only up to the last key read."""
        if exhausted or last_key is None:
            self._txn.record_range(self._table, self._index, lo, hi)
        elif self._order == "desc":
            self._txn.record_range(self._table, self._index, last_key, hi)
        else:
            self._txn.record_range(self._table, self._index, lo, successor(last_key))

    def _scan(self, lo: bytes, hi: bytes | None, limit: int | None, stop_rows: int | None = None,
              stop_bytes: int | None = None) -> list[tuple[bytes, dict]]:
        """`_read` + `_record`: the read set covers exactly what was scanned."""
        items, exhausted, last_key = self._read(lo, hi, limit, stop_rows, stop_bytes)
        self._scan_end = (exhausted, last_key)
        self._record(lo, hi, exhausted, last_key)
        return items

    def _iterate(self, lo: bytes, hi: bytes | None) -> Iterator[dict]:
        """Documents one batch at a time, resuming after the last key read, so user code may
        write between items. The read set grows with what was consumed."""
        cur_lo, cur_hi = lo, hi
        last_key: bytes | None = None
        exhausted = False
        try:
            while True:
                items, exhausted, batch_last = self._read(cur_lo, cur_hi, _BATCH)
                for key, doc in items:
                    last_key = key
                    yield doc
                if exhausted:
                    return
                if batch_last is not None:
                    last_key = batch_last
                if self._order == "desc":
                    cur_hi = batch_last
                else:
                    cur_lo = successor(batch_last)  # type: ignore[arg-type]
        finally:
            self._record(lo, hi, exhausted, last_key)

    def _run(self, limit: int | None) -> list[dict]:
        lo, hi = self._range
        return [doc for _, doc in self._scan(lo, hi, limit)]

    def collect(self) -> list[dict]:
        """All matching documents, as a list, in order."""
        self._consume()
        return self._run(None)

    def take(self, n: Any) -> list[dict]:
        """The first `n` matching documents, as a list; reads only as far as it needs.

        Raises:
            InvalidArgument: `n` is not a non-negative integer.
        """
        count = _count(n, "take")
        self._consume()
        if count == 0:
            return []
        return self._run(count)

    def first(self) -> dict | None:
        """The first matching document, or `None` when there is none."""
        self._consume()
        docs = self._run(1)
        return docs[0] if docs else None

    def unique(self) -> dict | None:
        """The only matching document, or `None` when there is none.

        Raises:
            UniqueQueryError: More than one document matches.
        """
        self._consume()
        docs = self._run(2)
        if len(docs) > 1:
            raise UniqueQueryError(
                f"unique() query returned more than one result from table {self._table}:\n"
                f" [{docs[0]['_id']}, {docs[1]['_id']}, ...]"
            )
        return docs[0] if docs else None

    def __iter__(self) -> Iterator[dict]:
        """Iterate over the matching documents (`for doc in ctx.db.query("t"): ...`).

        Documents are read in small batches as the loop goes, so a mutation may write between
        items, and stopping early reads (and records) only what was consumed.
        """
        self._consume()
        lo, hi = self._range
        return self._iterate(lo, hi)

    def paginate(self, opts: dict) -> dict:
        """Read one page of results, Convex's cursor-based pagination.

        Pass `{"numItems": n, "cursor": None}` for the first page, then the previous page's
        `continueCursor` as `cursor` for the next, until `isDone`. A cursor is tied to this
        query's table, index and order. Only one `paginate` may run per function. In a live
        query, a page keeps its end boundary across re-runs, so it grows or shrinks in place
        and consecutive pages never skip or repeat documents.

        Args:
            opts: `numItems` (page size, 1 to 32,000) and `cursor` (`None` or a cursor string);
                optionally `endCursor` (end the page there instead of after `numItems`),
                `maximumRowsRead` and `maximumBytesRead` (stop reading early).

        Returns:
            A dict with `page` (the documents), `isDone` (no more pages) and `continueCursor`
                (where the next page starts); plus `splitCursor` and `pageStatus`
                (`"SplitRecommended"` or `"SplitRequired"`) when the page read close to the
                limits or was cut short by `maximumRowsRead`/`maximumBytesRead`.

        Raises:
            InvalidArgument: `opts` is not a dict, `numItems` is missing or not a non-negative
                integer.
            NoDocumentsForPagination: `numItems` is 0.
            PageSizeTooLarge: `numItems` is above 32,000.
            InvalidCursor: The cursor is malformed or comes from another query.
            MultiplePaginatedDatabaseQueries: A second `paginate` in the same function.
        """
        self._consume()
        txn = self._txn
        if not isinstance(opts, dict):
            raise InvalidArgument("paginate takes an options dict: {'numItems': n, 'cursor': None | str}.")
        if txn.paginated:
            raise MultiplePaginatedDatabaseQueries(
                "This query or mutation function ran multiple paginated queries. "
                "Convex only supports a single paginated query in each function."
            )
        txn.paginated = True
        if "numItems" not in opts:
            raise InvalidArgument("paginate options are missing `numItems`.")
        num_items = _count(opts["numItems"], "paginate", "`numItems`")
        cursor = opts.get("cursor")
        end_cursor = opts.get("endCursor")
        if end_cursor is None and txn.journal_end_cursor is not None:
            # A re-run of a live query: keep the page's end boundary from its previous run (Convex's
            # query journal), so the page grows or shrinks in place and pages stay gapless.
            end_cursor = txn.journal_end_cursor
        max_rows = opts.get("maximumRowsRead")
        max_bytes = opts.get("maximumBytesRead")
        if end_cursor is None:
            if num_items == 0:
                raise NoDocumentsForPagination("`numItems` to `paginate` must be positive: a page of 0 items was requested.")
            if num_items > MAX_PAGE_SIZE:
                raise PageSizeTooLarge(f"numItems {num_items} is too large: the maximum page size is {MAX_PAGE_SIZE}.")
        for opt_name, opt in (("maximumRowsRead", max_rows), ("maximumBytesRead", max_bytes)):
            if opt is not None and _count(opt, "paginate", f"`{opt_name}`") == 0:
                raise InvalidArgument(f"{opt_name} must be positive (got 0).")
        tag = _source_tag(self._table, self._index, self._order or "asc")
        desc = self._order == "desc"
        lo, hi = self._range
        if cursor is not None:
            after = parse_cursor(tag, cursor)
            if after is None:
                return {"page": [], "isDone": True, "continueCursor": make_cursor(tag, None)}
            if desc:
                hi = after if hi is None or after < hi else hi
            else:
                nxt = successor(after)
                lo = nxt if nxt > lo else lo
        if end_cursor is not None:
            end = parse_cursor(tag, end_cursor)
            if end is not None:
                if desc:
                    lo = end if end > lo else lo
                else:
                    top = successor(end)
                    hi = top if hi is None or top < hi else hi
            txn.pagination_end_cursor = end_cursor
            page = [doc for _, doc in self._scan(lo, hi, None)]
            is_done = end is None
            return {"page": page, "isDone": is_done, "continueCursor": end_cursor}
        page = []
        keys = []
        rows_cap = int(max_rows) if max_rows is not None else None
        bytes_cap = int(max_bytes) if max_bytes is not None else None
        rows_before = txn.rows_read
        bytes_before = txn.bytes_read
        for key, doc in self._scan(lo, hi, num_items, rows_cap, bytes_cap):
            page.append(doc)
            keys.append(key)
        exhausted, last_key = self._scan_end
        rows_used = txn.rows_read - rows_before
        bytes_used = txn.bytes_read - bytes_before
        split_required = not exhausted and len(page) < num_items and (
            (rows_cap is not None and rows_used >= rows_cap) or (bytes_cap is not None and bytes_used >= bytes_cap)
        )
        continue_key = None if exhausted else last_key
        result: dict = {
            "page": page,
            "isDone": exhausted,
            "continueCursor": make_cursor(tag, continue_key),
        }
        txn.pagination_end_cursor = result["continueCursor"]
        limits = txn.limits
        recommended = len(page) > SPLIT_RECOMMENDED_ITEMS or txn.rows_read * 4 >= limits.rows_read * 3 or txn.bytes_read * 4 >= limits.bytes_read * 3
        if split_required or recommended:
            middle = keys[len(keys) // 2 - 1] if len(keys) >= 2 else None
            result["splitCursor"] = make_cursor(tag, middle) if middle is not None else None
            result["pageStatus"] = "SplitRequired" if split_required else "SplitRecommended"
        return result
