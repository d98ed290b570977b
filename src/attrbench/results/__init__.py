"""Results: the tidy curve schema and the resumable Parquet store."""

from attrbench.results.schema import CURVE_SCHEMA, ORDERS
from attrbench.results.store import ImageList, ResultStore, read_curves

__all__ = ["CURVE_SCHEMA", "ORDERS", "ImageList", "ResultStore", "read_curves"]
