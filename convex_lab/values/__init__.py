"""Convex values in Python: conversion, total order, JSON forms, limits and display.

One concept per module, imported here in dependency order: `model` (`UNSET`, `Int64`, the limit
constants), `display` (how Convex prints values and floats), `convert` (Python → internal,
`convex_value`, `copy_value`), `order` (`compare_values`, `values_equal`), `json` (Convex JSON,
export JSON and clean JSON), `limits` (`value_size`, `check_document`, `check_value_limits`). Every name is
importable from `convex_lab.values` itself. Ids live in `ids.py`; validators in `validators/`.
The internal representation is described in docs/architecture.md ("Value representation inside
convex_lab").
"""

from __future__ import annotations

from .model import (
    MAX_ARRAY_LENGTH,
    MAX_DOCUMENT_NESTING,
    MAX_DOCUMENT_SIZE,
    MAX_FIELD_NAME_LENGTH,
    MAX_IDENTIFIER_LENGTH,
    MAX_INT64,
    MAX_OBJECT_FIELDS,
    MAX_SAFE_INT,
    MAX_VALUE_NESTING,
    MAX_VALUE_SIZE,
    MIN_INT64,
    UNSET,
    Int64,
    _Unset,
)
from .display import display_value, format_float_export, format_size, stringify_value_for_error, type_name
from .convert import convex_value, copy_value
from .order import compare_values, values_equal
from .json import (
    dumps_export,
    from_convex_json,
    from_export_json,
    loads_export,
    to_clean_json,
    to_convex_json,
    to_export_json,
)
from .limits import check_document, check_field_name, check_identifier, check_value_limits, value_size

__all__ = [
    "UNSET",
    "Int64",
    "MAX_SAFE_INT",
    "MIN_INT64",
    "MAX_INT64",
    "MAX_DOCUMENT_SIZE",
    "MAX_DOCUMENT_NESTING",
    "MAX_VALUE_SIZE",
    "MAX_VALUE_NESTING",
    "MAX_ARRAY_LENGTH",
    "MAX_OBJECT_FIELDS",
    "MAX_FIELD_NAME_LENGTH",
    "MAX_IDENTIFIER_LENGTH",
    "convex_value",
    "compare_values",
    "values_equal",
    "to_convex_json",
    "from_convex_json",
    "to_clean_json",
    "to_export_json",
    "from_export_json",
    "dumps_export",
    "loads_export",
    "value_size",
    "check_document",
    "check_value_limits",
    "check_field_name",
    "check_identifier",
    "copy_value",
    "display_value",
    "stringify_value_for_error",
    "type_name",
    "format_float_export",
    "format_size",
]
