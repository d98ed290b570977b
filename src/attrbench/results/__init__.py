"""Results: one store for every benchmark (named Parquet tables, identity, atomic side files).

:class:`ResultStore` binds a folder to one identity; :class:`Table` / :class:`TableSpec` are its
named tables; :func:`read_table` reads one back. The FPA curve table is :data:`CURVES`
(:data:`CURVE_SCHEMA` columns, :func:`read_curves`); :func:`summarise` is the shared
mean / std / n per group.
"""

from attrbench.results.keys import chunk_suffix, safe_key
from attrbench.results.schema import CURVE_SCHEMA, CURVES, ORDERS, read_curves
from attrbench.results.store import (ImageList, ResultStore, Table, TableSpec, read_table,
                                     recorded_benchmark)
from attrbench.results.summary import summarise

__all__ = ["CURVES", "CURVE_SCHEMA", "ORDERS", "ImageList", "ResultStore", "Table", "TableSpec",
           "chunk_suffix", "read_curves", "read_table", "recorded_benchmark", "safe_key",
           "summarise"]
