"""The transform's Lambda engine: DuckDB doing what the Glue job does, for small files of eligible contracts.

The TransformInLambda step that runs it on a run's staging data: sluice_lib.steps.transform_in_lambda.
"""
