"""Results: the tidy curve schema and the resumable Parquet store."""

from attrbench.results.schema import CURVE_SCHEMA, ORDERS
from attrbench.results.store import ResultStore, read_curves

__all__ = ["CURVE_SCHEMA", "ORDERS", "ResultStore", "read_curves"]
