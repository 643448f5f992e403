"""One module per Lambda state of statemachine/pipeline.asl.json, named for the state: `Xyz` -> `steps/xyz.py`,
called by `functions/xyz/app.py`. Each holds the step's core function, which takes the step's input model
(sluice_lib.models) and the clients it uses, and returns its output model.

The modules are not imported here: each function imports only its own step (and its dependencies: pyarrow for
Validate and Load, DuckDB for TransformInLambda).
"""
