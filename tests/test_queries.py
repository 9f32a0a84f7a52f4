"""The query builder: index ranges and their rules, order, filters, terminals, pagination, limits."""

from __future__ import annotations

import math

import pytest

from convex_lab import UNSET, App, Int64, define_schema, define_table, v
from convex_lab.errors import (
    EvalError,
    IndexNotFoundError,
    InvalidArgument,
    InvalidCursor,
    InvalidIndexRange,
    MultiplePaginatedDatabaseQueries,
    NoDocumentsForPagination,
    QueryReused,
    TooManyDocumentsRead,
    TooManyReads,
    UniqueQueryError,
)

from .conftest import check

SCHEMA = define_schema({
    "messages": define_table({"room": v.string(), "author": v.string(), "n": v.number(),
                              "tag": v.optional(v.string())})
    .index("by_room", ["room"])
    .index("by_author_n", ["author", "n"]),
})


@pytest.fixture
def seeded(app):
    app.set_schema(SCHEMA)

    @app.mutation
    def seed(ctx):
        for i in range(30):
            doc = {"room": "abc"[i % 3], "author": f"u{i % 5}", "n": float(i)}
            if i % 4 == 0:
                doc["tag"] = "t"
            ctx.db.insert("messages", doc)

    seed()
    return app


def run_query(app: App, body):
    return app._db.run_query(lambda txn: body(__import__("convex_lab.runtime.context", fromlist=["x"]).DatabaseReader(txn)))[0]


def test_with_index_eq_and_order(seeded):
    docs = run_query(seeded, lambda db: db.query("messages").with_index("by_room", lambda q: q.eq("room", "b")).collect())
    assert [d["n"] for d in docs] == [float(i) for i in range(30) if i % 3 == 1]
    desc = run_query(seeded, lambda db: db.query("messages").with_index("by_room", lambda q: q.eq("room", "b")).order("desc").take(3))
    assert [d["n"] for d in desc] == [28.0, 25.0, 22.0]


def test_with_index_range_on_second_field(seeded):
    docs = run_query(seeded, lambda db: db.query("messages").with_index(
        "by_author_n", lambda q: q.eq("author", "u1").gt("n", 6).lte("n", 21)).collect())
    assert [d["n"] for d in docs] == [11.0, 16.0, 21.0]
    docs = run_query(seeded, lambda db: db.query("messages").with_index(
        "by_author_n", lambda q: q.eq("author", "u1").gte("n", 6).lt("n", 21)).collect())
    assert [d["n"] for d in docs] == [6.0, 11.0, 16.0]


def test_range_on_implicit_creation_time(seeded):
    everything = run_query(seeded, lambda db: db.query("messages").with_index("by_room", lambda q: q.eq("room", "a")).collect())
    cut = everything[3]["_creationTime"]
    docs = run_query(seeded, lambda db: db.query("messages").with_index(
        "by_room", lambda q: q.eq("room", "a").gt("_creationTime", cut)).collect())
    assert docs == everything[4:]


def test_index_range_validity_rules(seeded):
    def attempt(range_fn, index="by_author_n"):
        return run_query(seeded, lambda db: db.query("messages").with_index(index, range_fn).collect())

    with pytest.raises(InvalidIndexRange, match="in order"):
        attempt(lambda q: q.eq("n", 1))  # skips `author`
    with pytest.raises(InvalidIndexRange, match="not in the index"):
        attempt(lambda q: q.eq("room", "a"))
    with pytest.raises(InvalidIndexRange, match="multiple fields"):
        attempt(lambda q: q.gt("author", "a").lt("n", 5))
    with pytest.raises(InvalidIndexRange, match="lower bound"):
        attempt(lambda q: q.eq("author", "u1").gt("n", 1).gte("n", 2))
    with pytest.raises(InvalidIndexRange, match="already defined"):
        attempt(lambda q: q.eq("author", "u1").eq("author", "u2"))
    with pytest.raises(IndexNotFoundError, match=r"Index messages\.nope not found\."):
        attempt(None, index="nope")
    # eq fields may come in any order as long as they cover a prefix
    docs = attempt(lambda q: q.eq("n", 6.0).eq("author", "u1"))
    assert [d["n"] for d in docs] == [6.0]


def test_range_builder_is_single_use(seeded):
    def reuse(q):
        q.eq("room", "a")
        return q.eq("room", "b")

    with pytest.raises(QueryReused):
        run_query(seeded, lambda db: db.query("messages").with_index("by_room", reuse).collect())


def test_query_objects_are_single_use(seeded):
    def body(db):
        q = db.query("messages")
        q.collect()
        return q.collect()

    with pytest.raises(QueryReused):
        run_query(seeded, body)

    def order_twice(db):
        return db.query("messages").order("desc").order("asc").collect()

    with pytest.raises(InvalidArgument, match="order at most once"):
        run_query(seeded, order_twice)


def test_default_scan_is_creation_order_and_missing_table_is_empty(seeded):
    docs = run_query(seeded, lambda db: db.query("messages").collect())
    assert [d["n"] for d in docs] == [float(i) for i in range(30)]
    assert run_query(seeded, lambda db: db.query("nothing_here").collect()) == []
    assert run_query(seeded, lambda db: db.query("messages").full_table_scan().order("desc").first())["n"] == 29.0


def test_by_id_index(seeded):
    docs = run_query(seeded, lambda db: db.query("messages").with_index("by_id").collect())
    assert [d["_id"] for d in docs] == sorted(d["_id"] for d in docs)
    one = docs[5]
    got = run_query(seeded, lambda db: db.query("messages").with_index("by_id", lambda q: q.eq("_id", one["_id"])).unique())
    assert got == one


def test_first_unique_take(seeded):
    assert run_query(seeded, lambda db: db.query("messages").with_index("by_room", lambda q: q.eq("room", "zzz")).first()) is None
    with pytest.raises(UniqueQueryError, match="unique\\(\\) query returned more than one result from table messages"):
        run_query(seeded, lambda db: db.query("messages").with_index("by_room", lambda q: q.eq("room", "a")).unique())
    assert run_query(seeded, lambda db: db.query("messages").take(2.0))[1]["n"] == 1.0  # integral float accepted
    with pytest.raises(InvalidArgument, match="non-negative integer"):
        run_query(seeded, lambda db: db.query("messages").take(-1))
    with pytest.raises(InvalidArgument):
        run_query(seeded, lambda db: db.query("messages").take(1.5))
    assert run_query(seeded, lambda db: db.query("messages").take(0)) == []


def test_filters_semantics(seeded):
    def f(pred):
        return [d["n"] for d in run_query(seeded, lambda db: db.query("messages").filter(pred).collect())]

    assert f(lambda q: q.eq(q.field("tag"), "t")) == [float(i) for i in range(30) if i % 4 == 0]
    # missing sorts lowest; eq null is false for missing fields
    assert f(lambda q: q.eq(q.field("tag"), None)) == []
    assert f(lambda q: q.eq(q.field("tag"), UNSET)) == [float(i) for i in range(30) if i % 4 != 0]
    assert f(lambda q: q.lt(q.field("tag"), "a")) == [float(i) for i in range(30) if i % 4 != 0]
    assert f(lambda q: q.and_(q.gte(q.field("n"), 10), q.lt(q.field("n"), 13))) == [10.0, 11.0, 12.0]
    assert f(lambda q: q.or_(q.eq(q.field("n"), 1), q.eq(q.field("n"), 2))) == [1.0, 2.0]
    assert f(lambda q: q.not_(q.lt(q.field("n"), 28))) == [28.0, 29.0]
    assert f(lambda q: q.eq(q.mod(q.field("n"), 10.0), 0.0)) == [0.0, 10.0, 20.0]
    assert f(lambda q: q.eq(q.add(q.field("n"), 1.0), q.mul(3.0, 2.0))) == [5.0]
    assert f(lambda q: q.eq(q.neg(q.field("n")), -4.0)) == [4.0]
    # Int64 never equals Float64
    assert f(lambda q: q.eq(q.field("n"), Int64(3))) == []


def test_filter_errors(seeded):
    with pytest.raises(EvalError, match="as a Boolean"):
        run_query(seeded, lambda db: db.query("messages").filter(lambda q: q.field("n")).collect())
    with pytest.raises(EvalError):
        run_query(seeded, lambda db: db.query("messages").filter(lambda q: q.eq(q.add(q.field("n"), Int64(1)), 1.0)).collect())
    with pytest.raises(TypeError, match="and_"):
        run_query(seeded, lambda db: db.query("messages").filter(lambda q: q.eq(q.field("n"), 1) and q.eq(q.field("n"), 2)).collect())


def test_int64_arithmetic_in_filters(memory_app):
    @memory_app.mutation
    def seed(ctx):
        for i in range(-3, 4):
            ctx.db.insert("t", {"i": Int64(i)})

    seed()
    docs = run_query(memory_app, lambda db: db.query("t").filter(lambda q: q.eq(q.div(q.field("i"), Int64(2)), Int64(-1))).collect())
    assert [int(d["i"]) for d in docs] == [-3, -2]  # truncation toward zero
    with pytest.raises(EvalError):
        run_query(memory_app, lambda db: db.query("t").filter(lambda q: q.eq(q.div(q.field("i"), Int64(0)), Int64(0))).collect())
    with pytest.raises(EvalError, match="overflow"):
        run_query(memory_app, lambda db: db.query("t").filter(lambda q: q.eq(q.mul(q.field("i"), Int64(2**62)), Int64(0))).collect())


def test_paginate_walks_everything_once(seeded):
    seen = []
    cursor = None
    pages = 0
    while True:
        result = run_query(seeded, lambda db: db.query("messages").with_index("by_room", lambda q: q.eq("room", "a"))
                           .order("desc").paginate({"numItems": 3, "cursor": cursor}))
        pages += 1
        seen += [d["n"] for d in result["page"]]
        cursor = result["continueCursor"]
        if result["isDone"]:
            break
    assert seen == [float(i) for i in reversed(range(30)) if i % 3 == 0]
    assert pages == 4  # 3 + 3 + 3 + 1: a short page is the last

    # exactly numItems left -> isDone false, then an empty final page
    first = run_query(seeded, lambda db: db.query("messages").with_index("by_room", lambda q: q.eq("room", "a"))
                      .paginate({"numItems": 5, "cursor": None}))
    second = run_query(seeded, lambda db: db.query("messages").with_index("by_room", lambda q: q.eq("room", "a"))
                       .paginate({"numItems": 5, "cursor": first["continueCursor"]}))
    assert len(second["page"]) == 5 and second["isDone"] is False
    third = run_query(seeded, lambda db: db.query("messages").with_index("by_room", lambda q: q.eq("room", "a"))
                      .paginate({"numItems": 5, "cursor": second["continueCursor"]}))
    assert third["page"] == [] and third["isDone"] is True


def test_paginate_is_stable_when_data_changes(seeded):
    first = run_query(seeded, lambda db: db.query("messages").paginate({"numItems": 5, "cursor": None}))

    @seeded.mutation
    def churn(ctx, first_ids):
        for doc_id in first_ids:
            ctx.db.delete(doc_id)
        ctx.db.insert("messages", {"room": "a", "author": "z", "n": 100.0})

    churn(first_ids=[d["_id"] for d in first["page"]])
    second = run_query(seeded, lambda db: db.query("messages").paginate({"numItems": 5, "cursor": first["continueCursor"]}))
    assert [d["n"] for d in second["page"]] == [5.0, 6.0, 7.0, 8.0, 9.0]


def test_paginate_end_cursor_keeps_page_boundary(seeded):
    first = run_query(seeded, lambda db: db.query("messages").paginate({"numItems": 5, "cursor": None}))

    @seeded.mutation
    def insert_early(ctx, id):
        ctx.db.delete(id)

    insert_early(id=first["page"][1]["_id"])
    again = run_query(seeded, lambda db: db.query("messages").paginate(
        {"numItems": 5, "cursor": None, "endCursor": first["continueCursor"]}))
    assert [d["n"] for d in again["page"]] == [0.0, 2.0, 3.0, 4.0]
    assert again["continueCursor"] == first["continueCursor"]


def test_paginate_errors_and_split(seeded):
    with pytest.raises(NoDocumentsForPagination, match="`numItems` to `paginate` must be positive"):
        run_query(seeded, lambda db: db.query("messages").paginate({"numItems": 0, "cursor": None}))
    for bad in (-1, -1.0, 2.5, "3", True):  # the message names what the user passed: numItems
        with pytest.raises(InvalidArgument) as raised:
            run_query(seeded, lambda db: db.query("messages").paginate({"numItems": bad, "cursor": None}))
        assert str(raised.value) == f"`numItems` to `paginate` must be a non-negative integer, got {bad!r}."
    with pytest.raises(InvalidArgument, match="^`maximumRowsRead` to `paginate` must be a non-negative integer"):
        run_query(seeded, lambda db: db.query("messages").paginate({"numItems": 1, "cursor": None, "maximumRowsRead": -5}))
    with pytest.raises(InvalidArgument, match="^Arg 1 `n` to `take` must be a non-negative integer"):
        run_query(seeded, lambda db: db.query("messages").take(-1))

    def twice(db):
        db.query("messages").paginate({"numItems": 1, "cursor": None})
        return db.query("messages").paginate({"numItems": 1, "cursor": None})

    with pytest.raises(MultiplePaginatedDatabaseQueries):
        run_query(seeded, twice)
    with pytest.raises(InvalidCursor):
        run_query(seeded, lambda db: db.query("messages").paginate({"numItems": 1, "cursor": "bogus"}))
    other = run_query(seeded, lambda db: db.query("messages").order("desc").paginate({"numItems": 1, "cursor": None}))
    with pytest.raises(InvalidCursor):
        run_query(seeded, lambda db: db.query("messages").paginate({"numItems": 1, "cursor": other["continueCursor"]}))
    split = run_query(seeded, lambda db: db.query("messages").filter(lambda q: q.eq(q.field("room"), "zzz"))
                      .paginate({"numItems": 5, "cursor": None, "maximumRowsRead": 4}))
    assert split["page"] == [] and split["isDone"] is False and split["pageStatus"] == "SplitRequired"
    rest = run_query(seeded, lambda db: db.query("messages").paginate({"numItems": 100, "cursor": split["continueCursor"]}))
    assert rest["page"][0]["n"] == 4.0


def test_read_set_of_take_is_only_the_scanned_interval(seeded):
    result, txn = seeded._db.run_query(lambda txn: __import__("convex_lab.runtime.context", fromlist=["x"]).DatabaseReader(txn)
                                       .query("messages").with_index("by_room", lambda q: q.eq("room", "a")).take(2))
    (table, index, lo, hi), = txn.reads.ranges
    assert (table, index) == ("messages", "by_room")
    keys = [k for k in seeded._db.store.tables["messages"].indexes["by_room"].entries.irange(lo, hi, (True, False))]
    assert len(keys) == 2  # exactly the two documents returned


def test_read_limits(memory_app):
    @memory_app.mutation
    def seed(ctx, n):
        for i in range(int(n)):
            ctx.db.insert("big", {"i": i})

    for _ in range(4):
        seed(n=8100)
    with pytest.raises(TooManyDocumentsRead, match=r"Too many documents read in a single function execution \(limit: 32000\)"):
        run_query(memory_app, lambda db: db.query("big").collect())
    unlimited = App(limits="off")
    try:
        unlimited.import_rows("big", [{"i": i} for i in range(32_100)])
        assert len(run_query(unlimited, lambda db: db.query("big").collect())) == 32_100
    finally:
        unlimited.close()


def test_index_range_limit(memory_app):
    @memory_app.mutation
    def seed(ctx):
        return [ctx.db.insert("t", {"i": i}) for i in range(10)]

    ids = seed()

    def many_gets(db):
        for _ in range(410):
            for doc_id in ids:
                db.get(doc_id)

    with pytest.raises(TooManyReads, match=r"Too many reads in a single function execution \(limit: 4096\)"):
        run_query(memory_app, many_gets)


def test_write_limit(memory_app):
    from convex_lab.errors import TooManyWrites

    @memory_app.mutation
    def flood(ctx):
        for i in range(16_001):
            ctx.db.insert("t", {"i": i})

    with pytest.raises(TooManyWrites, match="16000"):
        flood()
    assert "t" not in memory_app._db.store.tables


def test_nan_and_negative_zero_in_indexes(memory_app):
    memory_app.set_schema(define_schema({"f": define_table({"x": v.number()}).index("by_x", ["x"])}))

    @memory_app.mutation
    def seed(ctx):
        for x in [1.0, -0.0, 0.0, math.nan, -math.inf, math.inf]:
            ctx.db.insert("f", {"x": x})

    seed()
    docs = run_query(memory_app, lambda db: db.query("f").with_index("by_x").collect())
    xs = [d["x"] for d in docs]
    assert xs[0] == -math.inf and math.isnan(xs[-1]) and xs[-2] == math.inf
    assert math.copysign(1, xs[1]) == -1 and math.copysign(1, xs[2]) == 1
    zero = run_query(memory_app, lambda db: db.query("f").with_index("by_x", lambda q: q.eq("x", 0.0)).collect())
    assert len(zero) == 1 and math.copysign(1, zero[0]["x"]) == 1
    nan = run_query(memory_app, lambda db: db.query("f").with_index("by_x", lambda q: q.eq("x", math.nan)).collect())
    assert len(nan) == 1
    check(memory_app)
