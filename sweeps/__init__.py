"""Orchestration of a sweep: configuration, the Ray Tune run, and the results on disk.

``python -m sweeps.run`` is the entry point. This package imports :mod:`trainable` and
:mod:`search_spaces`; they never import it.
"""
