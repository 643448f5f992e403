"""The offline runtime: the same template, state machine, handlers and Glue script on an embedded AWS emulation."""
