"""sluice's shared library: the business logic behind every Lambda step (deployed as a layer)."""
