"""``make bench``: the service's hot paths measured against their floor, in one run.

Every number is a ratio against a baseline measured in the same run on the same machine
(CONTRIBUTING: no wall-clock assertions in tests; speed goes here). ``python -m bench`` runs
every section and writes docs/benchmarks.md and docs/benchmarks.json; see ``bench.__main__``.
"""
