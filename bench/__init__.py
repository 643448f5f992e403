"""Benchmarks (not timed tests): each script measures one part and writes bench/results/<name>.md."""
