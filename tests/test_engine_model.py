"""Property test: the engine against a plain reference model.

Random index definitions (a random schema), random documents and writes, and random
index-range / filter / order / take / paginate queries. The model is a dict of documents sorted
with a comparison written here from the spec (not the engine's byte keys). The store's `_check()`
runs after every step.
"""

from __future__ import annotations

import functools
import math
import struct

import hypothesis.strategies as st
from hypothesis import HealthCheck, settings
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from convex_lab import UNSET, App, Int64, define_schema, define_table
from convex_lab.runtime.context import DatabaseReader, DatabaseWriter

FIELDS = ["a", "b", "c"]

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.sampled_from([0.0, -0.0, 1.0, -1.5, 2.0, math.inf, -math.inf, math.nan]),
    st.integers(-3, 3).map(Int64),
    st.sampled_from(["", "a", "ab", "b", "a\x00", "é"]),
    st.sampled_from([b"", b"\x00", b"a"]),
)
values = st.one_of(scalars, st.lists(scalars, max_size=2), st.dictionaries(st.sampled_from(["x", "y"]), scalars, max_size=2))
documents = st.fixed_dictionaries({}, optional={f: values for f in FIELDS})


# -- the reference order, written from the spec (§2.4) ------------------------------------------
def _rank(value):
    if value is UNSET:
        return (0,)
    if value is None:
        return (1,)
    if type(value) is Int64:
        return (2, int(value))
    if type(value) is float:
        bits = struct.unpack(">Q", struct.pack(">d", value))[0]
        if math.isnan(value):
            bits = 0x7FF8000000000000 | (bits & 0x8000000000000000)
        ordered = bits ^ 0xFFFFFFFFFFFFFFFF if bits >> 63 else bits | (1 << 63)
        return (3, ordered)
    if value is False:
        return (4,)
    if value is True:
        return (5,)
    if type(value) is str:
        return (6, value.encode("utf-8"))
    if type(value) is bytes:
        return (7, value)
    if type(value) is list:
        return (8, tuple(_rank(x) for x in value))
    return (9, tuple((k.encode(), _rank(value[k])) for k in sorted(value)))


def ref_compare(a, b) -> int:
    ra, rb = _rank(a), _rank(b)
    return (ra > rb) - (ra < rb)


def get_field(doc, path):
    return doc.get(path, UNSET)


class EngineModel(RuleBasedStateMachine):
    @initialize(indexes=st.lists(st.lists(st.sampled_from(FIELDS), min_size=1, max_size=2, unique=True),
                                 min_size=0, max_size=3, unique_by=tuple))
    def setup(self, indexes):
        self.app = App()
        self.indexes = {f"idx{i}": tuple(fields) for i, fields in enumerate(indexes)}
        # schema_validation=False: the table's (empty) validator is never enforced, as in Convex.
        table = define_table({})
        for name, fields in self.indexes.items():
            table = table.index(name, list(fields))
        self.app.set_schema(define_schema({"t": table}, schema_validation=False))
        self.model: dict[str, dict] = {}

    def teardown(self):
        self.app.close()

    def _mutate(self, fn):
        return self.app._db.run_mutation(lambda txn: fn(DatabaseWriter(txn)))[0]

    def _query(self, fn):
        return self.app._db.run_query(lambda txn: fn(DatabaseReader(txn)))[0]

    @rule(doc=documents)
    def insert(self, doc):
        doc_id = self._mutate(lambda db: db.insert("t", doc))
        stored = self._query(lambda db: db.get(doc_id))
        self.model[doc_id] = stored

    @precondition(lambda self: self.model)
    @rule(data=st.data(), fields=documents)
    def patch(self, data, fields):
        doc_id = data.draw(st.sampled_from(list(self.model)))
        removals = data.draw(st.lists(st.sampled_from(FIELDS), max_size=2))
        change = dict(fields)
        for f in removals:
            change[f] = UNSET
        self._mutate(lambda db: db.patch(doc_id, change))
        expected = dict(self.model[doc_id])
        for k, val in change.items():
            if val is UNSET:
                expected.pop(k, None)
            else:
                expected[k] = val
        got = self._query(lambda db: db.get(doc_id))
        assert ref_compare(got, expected) == 0
        self.model[doc_id] = got

    @precondition(lambda self: self.model)
    @rule(data=st.data(), doc=documents)
    def replace(self, data, doc):
        doc_id = data.draw(st.sampled_from(list(self.model)))
        self._mutate(lambda db: db.replace(doc_id, doc))
        self.model[doc_id] = self._query(lambda db: db.get(doc_id))

    @precondition(lambda self: self.model)
    @rule(data=st.data())
    def delete(self, data):
        doc_id = data.draw(st.sampled_from(list(self.model)))
        self._mutate(lambda db: db.delete(doc_id))
        del self.model[doc_id]

    @rule(doc=documents)
    def failed_mutation_changes_nothing(self, doc):
        def body(db):
            db.insert("t", doc)
            for doc_id in list(self.model)[:2]:
                db.delete(doc_id)
            raise RuntimeError("abort")

        try:
            self._mutate(body)
        except RuntimeError:
            pass

    @rule(data=st.data(), order=st.sampled_from(["asc", "desc"]), limit=st.none() | st.integers(0, 5),
          use_filter=st.booleans())
    def query(self, data, order, limit, use_filter):
        names = ["by_creation_time", "by_id"] + sorted(self.indexes)
        name = data.draw(st.sampled_from(names))
        fields = self.indexes.get(name, ())
        n_eq = data.draw(st.integers(0, len(fields)))

        def value_for(f):
            # Mostly values that exist in the data, so bounds and equalities hit documents.
            present = [d[f] for d in self.model.values() if f in d]
            if present and data.draw(st.integers(0, 3)) > 0:
                return present[data.draw(st.integers(0, len(present) - 1))]
            return data.draw(values)

        eqs = [(f, value_for(f)) for f in fields[:n_eq]]
        lower = upper = None
        if n_eq < len(fields) and data.draw(st.booleans()):
            f = fields[n_eq]
            if data.draw(st.booleans()):
                lower = (f, data.draw(st.sampled_from(["gt", "gte"])), value_for(f))
            if data.draw(st.booleans()):
                upper = (f, data.draw(st.sampled_from(["lt", "lte"])), value_for(f))
        if use_filter:
            filter_field = data.draw(st.sampled_from(FIELDS))
            filt = (filter_field, value_for(filter_field))
        else:
            filt = None

        def build(q):
            for f, val in eqs:
                q = q.eq(f, val)
            if lower:
                q = getattr(q, lower[1])(lower[0], lower[2])
            if upper:
                q = getattr(q, upper[1])(upper[0], upper[2])
            return q

        def run(db):
            query = db.query("t").with_index(name, build).order(order)
            if filt:
                query = query.filter(lambda q: q.eq(q.field(filt[0]), filt[1]))
            return query.collect() if limit is None else query.take(limit)

        got = self._query(run)
        expected = self._expected(fields, eqs, lower, upper, order, filt, limit, by_id=name == "by_id")
        assert [d["_id"] for d in got] == [d["_id"] for d in expected]

    def _expected(self, fields, eqs, lower, upper, order, filt, limit, by_id=False):
        def ok(doc):
            for f, val in eqs:
                if ref_compare(get_field(doc, f), val) != 0:
                    return False
            for bound in (lower, upper):
                if bound is None:
                    continue
                f, op, val = bound
                c = ref_compare(get_field(doc, f), val)
                if {"gt": c <= 0, "gte": c < 0, "lt": c >= 0, "lte": c > 0}[op]:
                    return False
            if filt and ref_compare(get_field(doc, filt[0]), filt[1]) != 0:
                return False
            return True

        def key_cmp(x, y):
            if by_id:
                return ref_compare(x["_id"], y["_id"])
            for f in fields:
                c = ref_compare(get_field(x, f), get_field(y, f))
                if c:
                    return c
            c = ref_compare(x["_creationTime"], y["_creationTime"])
            return c or ref_compare(x["_id"], y["_id"])

        docs = sorted(self.model.values(), key=functools.cmp_to_key(key_cmp), reverse=order == "desc")
        docs = [d for d in docs if ok(d)]
        return docs if limit is None else docs[:limit]

    @rule(num=st.integers(1, 4), order=st.sampled_from(["asc", "desc"]))
    def paginate_all(self, num, order):
        seen = []
        cursor = None
        for _ in range(100):
            page = self._query(lambda db: db.query("t").order(order).paginate({"numItems": num, "cursor": cursor}))
            seen += [d["_id"] for d in page["page"]]
            cursor = page["continueCursor"]
            if page["isDone"]:
                break
        expected = sorted(self.model.values(), key=lambda d: d["_creationTime"], reverse=order == "desc")
        assert seen == [d["_id"] for d in expected]

    @invariant()
    def store_is_consistent(self):
        if not hasattr(self, "app"):
            return
        self.app._db._check()
        table = self.app._db.store.tables["t"]
        assert set(table.docs) == set(self.model)


EngineModel.TestCase.settings = settings(max_examples=150, stateful_step_count=30, deadline=None,
                                         suppress_health_check=[HealthCheck.too_slow])
TestEngineModel = EngineModel.TestCase
