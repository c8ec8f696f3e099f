"""The Ray Tune run of a sweep: everything that runs inside ``Tuner.fit``, and its checks.

It sits above the record (:mod:`sweeps.record`), which it writes as trials report, and the
phases (:mod:`sweeps.phases`), whose trials it runs; the outputs read the record and never
import this package.

:mod:`~sweeps.tune.tuner` builds the run from its parts: the Optuna searcher over the phases
(:mod:`~sweeps.tune.search`), ASHA and the stopper (which apply the record's stopping rule),
the recorder that writes what Ray reports into the record (:mod:`~sweeps.tune.recorder`), the
rule for failed trials, their retries and the sweep's stop on an error that repeats
(:mod:`~sweeps.tune.failures`, fed what a trial raised by :mod:`~sweeps.tune.errors`), the
hung-trial watchdog (:mod:`~sweeps.tune.watchdog`) and the live TensorBoard logger
(:mod:`~sweeps.tune.logger`). :mod:`~sweeps.tune.cluster` checks the Ray cluster before the run
writes anything. The private names of Ray that the run needs are fenced in
:mod:`~sweeps.tune.ray_compat`.

Importing the package imports none of its modules, so ``sweeps.run`` can import
:mod:`~sweeps.tune.cluster` and :mod:`~sweeps.tune.ray_compat` (neither imports Ray Tune) while
it checks a sweep's input.
"""
