"""``python -m benchmarks``: the sweep service against what a user would pick instead.

Every contender runs the same workload (data, model, seeds, search space) as a separate
process, side by side in one invocation; see :mod:`benchmarks.__main__`.
"""
