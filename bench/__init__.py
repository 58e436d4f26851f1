"""The load benchmark: our app against the lecture's Flask original, side by side.

`python -m bench --help` lists the flags; bench/RESULTS.md holds the last full run.
"""
