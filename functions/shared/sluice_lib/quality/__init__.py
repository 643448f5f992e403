"""Dataset-level quality rules of a contract's `quality:` section, evaluated on a file's validated rows."""
