"""The Transform job's modules, shipped to Glue in the `--extra-py-files` zip with the sluice_lib facts they use."""
