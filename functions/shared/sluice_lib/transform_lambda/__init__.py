"""The transform's Lambda engine: DuckDB doing what the Glue job does, for small files of eligible contracts."""

from sluice_lib.transform_lambda.core import transform_run

__all__ = ["transform_run"]
