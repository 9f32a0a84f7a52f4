"""Bulk data in and out: `import_rows` (DataFrames and lists of dicts) and the table descriptions
the SQL surface builds its views from.

Imports are one commit, validated like inserts, but take a batch path: rows are converted before
the commit lock is taken (interruptible, nothing written), then `Transaction.insert_many` writes
the store in bulk through the engine's one commit path, which writes DuckDB in bulk too.
"""

from __future__ import annotations

import contextlib
import gc
import math
from typing import Any, Iterator

import numpy as np

from .engine.database import Database
from .engine.persistence import Persistence, TableInfo
from .engine.transaction import UNLIMITED
from .errors import InvalidArgument, interrupted_write
from .interrupts import DEFERRED
from .values import UNSET, check_document, convex_value

PROGRESS_THRESHOLD = 50_000  # rows above which import_rows shows a progress bar by default


# ---------------------------------------------------------------------------------------------
# Table descriptions for SQL


def table_info(db: Database, name: str) -> TableInfo:
    from .validators import scalar_column_type

    table = db.store.tables.get(name)
    if table is None:
        raise KeyError(f'Table "{name}" does not exist. Existing tables: {", ".join(sorted(db.store.tables)) or "none"}.')
    fields: list[str] = []
    types: dict[str, str | None] = {}
    definition = db.schema.tables.get(name) if db.schema is not None else None
    validator = definition.document_validator if definition is not None else None
    declared = getattr(validator, "fields", None) if validator is not None else None
    if declared:
        for field, field_validator in declared.items():
            fields.append(field)
            types[field] = scalar_column_type(field_validator)
    for field in table.fields_seen:
        if field not in types and not field.startswith("_"):
            fields.append(field)
            types[field] = None
    return TableInfo(name=name, number=table.number, fields=fields, column_types=types)


def table_infos(db: Database) -> dict[str, TableInfo]:
    with db.lock:
        return {name: table_info(db, name) for name in db.store.tables if not name.startswith("_")}


# ---------------------------------------------------------------------------------------------
# Import


def _dataframe_records(frame: Any) -> list[dict]:
    import pandas as pd

    columns = [str(c) for c in frame.columns]
    for column, dtype in zip(columns, frame.dtypes):
        if pd.api.types.is_datetime64_any_dtype(dtype) or pd.api.types.is_timedelta64_dtype(dtype) or isinstance(dtype, pd.PeriodDtype):
            raise TypeError(
                f"Column {column!r} holds {dtype} values, which are not a supported Convex type. "
                "Convert it first, e.g. to epoch milliseconds (df[col].astype('int64') // 10**6) or to ISO strings."
            )
    lists = []
    for column in frame.columns:
        series = frame[column]
        values = series.tolist()
        dtype = series.dtype
        if pd.api.types.is_float_dtype(dtype) and not isinstance(dtype, pd.api.extensions.ExtensionDtype):
            lists.append(values)  # numpy floats: NaN stays NaN
            continue
        # Missing markers become absent fields: None, pd.NA, NaT, and NaN outside float64 columns
        # (how pandas spells "missing" in object and string columns).
        cleaned = []
        for value in values:
            if value is None or value is pd.NA or value is pd.NaT:
                cleaned.append(UNSET)
            elif type(value) is float and math.isnan(value):
                cleaned.append(UNSET)
            else:
                cleaned.append(value)
        lists.append(cleaned)
    records = []
    for row in zip(*lists):
        records.append({c: v for c, v in zip(columns, row) if v is not UNSET})
    return records


class Columns:
    """Converted documents held column by column (the DataFrame fast path)."""

    __slots__ = ("names", "lists")

    def __init__(self, names: list[str], lists: list[list]) -> None:
        self.names = names
        self.lists = lists

    def __len__(self) -> int:
        return len(self.lists[0]) if self.lists else 0


def _fast_frame_fields(frame: Any, validator: Any) -> tuple[Columns, list[int]] | None:
    """Documents (without system fields) and their sizes for the common DataFrame shape, built
    column by column; None when any column needs the general per-row path.

    Applies when every column is a float64 column or an object column of `str` with no missing
    values, and the table's validator (if any) is an object whose fields take exactly those
    columns as `v.string()`/`v.number()`/`v.any()` (optional or not). Validation and size
    accounting then happen once per column instead of once per document.
    """
    import pandas as pd

    from .validators import AnyValidator, Float64Validator, ObjectValidator, OptionalValidator, StringValidator

    columns = [str(c) for c in frame.columns]
    if len(set(columns)) != len(columns) or not columns:
        return None
    field_validators: dict[str, Any] = {}
    if validator is not None:
        if not isinstance(validator, ObjectValidator) or not set(columns) <= set(validator.fields):
            return None
        for name, field_validator in validator.fields.items():
            if isinstance(field_validator, OptionalValidator):
                field_validator = field_validator.inner
            elif name not in columns:
                return None
            field_validators[name] = field_validator
    lists: list[list] = []
    sizes = [0] * len(frame)
    for column, name in zip(frame.columns, columns):
        series = frame[column]
        expected = field_validators.get(name)
        values = series.tolist()
        if series.dtype == np.float64:
            if expected is not None and not isinstance(expected, (Float64Validator, AnyValidator)):
                return None
            value_size = 9
            sizes = [s + value_size for s in sizes]
        elif series.dtype == object or isinstance(series.dtype, pd.StringDtype):
            if not all(type(x) is str for x in values):
                return None
            if expected is not None and not isinstance(expected, (StringValidator, AnyValidator)):
                return None
            sizes = [s + len(x.encode("utf-8")) + 2 for s, x in zip(sizes, values)]
        else:
            return None
        lists.append(values)
    check_document({name: "" for name in columns})  # field names, once
    overhead = 2 + sum(len(name) + 1 for name in columns)
    sizes = [s + overhead for s in sizes]
    return Columns(columns, lists), sizes


def _records(rows: Any) -> list[dict]:
    try:
        import pandas as pd
    except ImportError:  # pragma: no cover
        pd = None
    if pd is not None and isinstance(rows, pd.DataFrame):
        return _dataframe_records(rows)
    if isinstance(rows, dict):
        raise TypeError("import_rows takes a DataFrame or a list of dicts (one per document), not a single dict.")
    records = list(rows)
    for i, record in enumerate(records):
        if type(record) is not dict:
            raise TypeError(f"import_rows: row {i} is {type(record).__name__}, expected a dict.")
    return records


def import_rows(db: Database, persistence: Persistence, table_name: str, rows: Any, *, progress: bool | None = None) -> list[str]:
    """Validate and insert many documents as one commit. Returns their ids. Exempt from limits.

    All or nothing under Ctrl-C: interrupted before the commit, nothing is written (and
    `KeyboardInterrupt` is raised); after it, `InterruptedAfterCommit` carries the ids."""
    committed: list = []  # [ids, ts] once the commit is durable
    collecting = gc.isenabled()
    try:
        with gc_paused():
            ids = _import_rows(db, table_name, rows, progress, committed)
        return ids
    except KeyboardInterrupt as interrupted:
        if collecting:
            gc.enable()  # in case the Ctrl-C cut gc_paused's own cleanup short
        raise interrupted_write(interrupted, committed, f'The import into "{table_name}"') from None


@contextlib.contextmanager
def gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector during a bulk build: millions of new dicts would
    otherwise trigger repeated full collections (measured: ~2× slower imports)."""
    was_enabled = gc.isenabled()
    try:  # disabled inside the try, re-enabled whole: a Ctrl-C never leaves the collector off
        gc.disable()
        yield
    finally:
        if was_enabled:
            with DEFERRED:
                # After a large load, move the new long-lived objects out of the collector's view,
                # so later full collections don't rescan a million documents (~0.5 s each).
                gc.freeze()  # O(1): a list splice
                gc.enable()


def _import_rows(db: Database, table_name: str, rows: Any, progress: bool | None, committed: list) -> list[str]:
    db.check_open()
    _refuse_system_fields(rows)
    schema = db.schema
    use_schema = schema is not None and table_name in schema.tables
    fast = None
    try:
        import pandas as pd

        if isinstance(rows, pd.DataFrame) and len(rows) > 0:
            validator = schema.tables[table_name].document_validator if use_schema else None
            fast = _fast_frame_fields(rows, validator)
    except ImportError:  # pragma: no cover
        pass
    if fast is not None:
        converted, field_sizes = fast
        if not (progress if progress is not None else len(converted) >= PROGRESS_THRESHOLD):
            return _commit_import(db, table_name, converted, field_sizes, committed)
        from tqdm.auto import tqdm

        # The column-wise path has no per-row loop to report from: the bar shows the commit.
        with tqdm(total=len(converted), desc=f"import {table_name}", unit="rows") as bar:
            bar.set_postfix_str("indexing and writing")
            ids = _commit_import(db, table_name, converted, field_sizes, committed)
            bar.update(len(ids))
        return ids
    records = _records(rows)
    show = progress if progress is not None else len(records) >= PROGRESS_THRESHOLD
    iterator: Any = records
    if show:
        from tqdm.auto import tqdm

        iterator = tqdm(records, desc=f"import {table_name}", unit="rows")
    converted: list[dict] = []
    resolver = db.catalog.name_of

    for i, record in enumerate(iterator):
        try:
            if use_schema:
                converted.append(schema.conform(table_name, record, resolver,
                                                f'Failed to import row {i} into table "{table_name}"'))
            else:
                converted.append(convex_value(record))
        except (TypeError, ValueError) as exc:
            raise type(exc)(f"Row {i}: {exc}") from None
    return _commit_import(db, table_name, converted, None, committed)


_SYSTEM_FIELDS = ("_id", "_creationTime")


def _refuse_system_fields(rows: Any) -> None:
    """Convex sets `_id` and `_creationTime` itself: an imported row may not choose them (nor may
    a DataFrame have two columns of one name)."""
    columns = getattr(rows, "columns", None)
    if columns is not None and hasattr(rows, "dtypes"):  # a DataFrame
        names = [str(c) for c in columns]
        duplicated = sorted({n for n in names if names.count(n) > 1})
        if duplicated:
            raise ValueError(
                f"The DataFrame has duplicate column names: {', '.join(repr(n) for n in duplicated)}. "
                "Each column becomes a document field: rename or drop the duplicates first."
            )
        for system in _SYSTEM_FIELDS:
            if system in names:
                raise InvalidArgument(
                    f"The DataFrame has a column `{system}`, a system field that Convex sets itself: "
                    "import_rows assigns every document a new `_id` and `_creationTime`. Drop the column "
                    f"(df.drop(columns=[\"{system}\"])) or rename it."
                )
        return
    if isinstance(rows, (list, tuple)):
        for i, row in enumerate(rows):
            if type(row) is dict:
                for system in _SYSTEM_FIELDS:
                    if system in row:
                        raise InvalidArgument(
                            f"Row {i} contains the system field `{system}`, which Convex sets itself: "
                            "import_rows assigns every document a new `_id` and `_creationTime`. Remove it "
                            "from the rows (or rename it)."
                        )


def _commit_import(db: Database, table_name: str, converted: "list[dict] | Columns",
                   field_sizes: list[int] | None, committed: list) -> list[str]:
    """Insert converted, validated documents as one commit, through the engine's one commit path
    (durable before anyone is told; all or nothing, Ctrl-C included). Fills `committed` with
    `[ids, ts]` as soon as the commit is durable."""
    if not len(converted):
        return []
    return db.run_mutation(
        lambda txn: txn.insert_many(table_name, converted, field_sizes, all_flat=field_sizes is not None),
        limits=UNLIMITED, record=committed,
    )[0]
