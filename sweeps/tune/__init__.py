"""The Ray Tune run of a sweep: everything that runs inside ``Tuner.fit``, and its checks.

:mod:`~sweeps.tune.tuner` builds (or restores) the run from its parts: the Optuna searcher
(:mod:`~sweeps.tune.search`), the stopper and the rule that says why a trial ended
(:mod:`~sweeps.tune.stopping`), the rule for failed trials, their retries and the sweep's stop
on an error that repeats (:mod:`~sweeps.tune.failures`, fed what a trial raised by
:mod:`~sweeps.tune.errors`), the hung-trial watchdog (:mod:`~sweeps.tune.watchdog`) and the
TensorBoard logger (:mod:`~sweeps.tune.logger`). :mod:`~sweeps.tune.cluster` checks the Ray
cluster before the run writes anything. The private names of Ray and of Optuna that the run
needs are fenced in :mod:`~sweeps.tune.ray_compat` and :mod:`~sweeps.tune.optuna_compat`.

Importing the package imports none of its modules, so ``sweeps.run`` can import
:mod:`~sweeps.tune.cluster` and :mod:`~sweeps.tune.ray_compat` (neither imports Ray Tune) while
it checks a sweep's input.
"""
