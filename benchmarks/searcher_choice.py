"""How Ray Tune's built-in OptunaSearch behaves for a hybridlab-style study, on this CPU machine.

    .venv/bin/python benchmarks/searcher_choice.py

Starts its own local Ray (2 CPUs), runs tiny synthetic Tune experiments whose function trainables
sleep ~0.3 s in all while reporting 5 intermediate results and a final one with two objectives
(`acc` maximized, `params` minimized), shuts Ray down and prints a markdown table of outcomes plus
one-line findings. The searcher is `ray.tune.search.optuna.OptunaSearch` with an Optuna
JournalStorage (JournalFileBackend) in a temporary folder, which also holds Tune's storage_path and
is deleted at the end. Checks:
    1. intermediate results: do they reach the persisted study (multi- vs single-objective)?
    2. NaN objective: does the experiment crash, and what state does the Optuna trial get?
    3. a raising trainable: is the Optuna trial told FAIL, with a reason recorded?
    4. resume: does a second run with the same storage/study_name continue the study, and is a
       trial left RUNNING (`study.ask()` never told) cleaned up by anything?
    5. overhead: 16 trials, max_concurrent_trials=2, reuse_actors=True, against the ideal
       16 * 0.3 s / 2, for OptunaSearch and for a fixed-list Searcher without Optuna, alternated
       twice each (best run counts); the time spent inside each searcher's hooks on the driver is
       measured separately.
"""

from __future__ import annotations

import logging
import math
import os
import shutil
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import optuna
import ray
from optuna.storages import JournalStorage
from optuna.storages.journal import JournalFileBackend
from optuna.trial import FrozenTrial, TrialState
from ray import tune
from ray.tune.search import Searcher
from ray.tune.search.optuna import OptunaSearch

TRIAL_SLEEP_S = 0.3
STEPS = 6  # 5 intermediate results + the final one
N_OVERHEAD = 16
OVERHEAD_REPEATS = 2
CONCURRENCY = 2
MO_METRIC, MO_MODE = ["acc", "params"], ["max", "min"]
SPACE = {"x": tune.uniform(0.0, 1.0), "width": tune.randint(16, 256)}


def _objectives(config: dict[str, Any], step: int) -> dict[str, float]:
    acc = (1.0 - (config["x"] - 0.3) ** 2) * (step + 1) / STEPS
    return {"acc": acc, "params": float(config["width"]) ** 2}


def train_ok(config: dict[str, Any]) -> None:
    for step in range(STEPS):
        time.sleep(TRIAL_SLEEP_S / STEPS)
        tune.report(_objectives(config, step))


def train_nan(config: dict[str, Any]) -> None:
    for step in range(STEPS):
        time.sleep(TRIAL_SLEEP_S / STEPS)
        tune.report({**_objectives(config, step), "acc": math.nan})


def train_raise(config: dict[str, Any]) -> None:
    for step in range(2):
        time.sleep(TRIAL_SLEEP_S / STEPS)
        tune.report(_objectives(config, step))
    raise RuntimeError("synthetic failure in trainable")


class TimedOptunaSearch(OptunaSearch):
    """OptunaSearch that adds up the driver time spent in its hooks."""

    hook_s = 0.0

    def suggest(self, trial_id: str) -> dict | None:
        t0 = time.perf_counter()
        try:
            return super().suggest(trial_id)
        finally:
            self.hook_s += time.perf_counter() - t0

    def on_trial_result(self, trial_id: str, result: dict) -> None:
        t0 = time.perf_counter()
        super().on_trial_result(trial_id, result)
        self.hook_s += time.perf_counter() - t0

    def on_trial_complete(
        self, trial_id: str, result: dict | None = None, error: bool = False
    ) -> None:
        t0 = time.perf_counter()
        super().on_trial_complete(trial_id, result, error)
        self.hook_s += time.perf_counter() - t0


class FixedListSearcher(Searcher):
    """Baseline without Optuna: hands out configs from a list, ignores results."""

    hook_s = 0.0

    def __init__(self, configs: list[dict[str, Any]]) -> None:
        super().__init__(metric=MO_METRIC, mode=MO_MODE)
        self._configs = list(configs)

    def suggest(self, trial_id: str) -> dict | None:
        return self._configs.pop(0) if self._configs else Searcher.FINISHED

    def on_trial_complete(
        self, trial_id: str, result: dict | None = None, error: bool = False
    ) -> None:
        pass


class CountingTPESampler(optuna.samplers.TPESampler):
    """TPESampler that records how many COMPLETE trials the study held at each ask."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.complete_seen: list[int] = []

    def before_trial(self, study: optuna.Study, trial: FrozenTrial) -> None:
        done = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
        self.complete_seen.append(len(done))
        super().before_trial(study, trial)


class Lab:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.storage = JournalStorage(JournalFileBackend(str(root / "optuna.log")))

    def searcher(
        self, study: str, multi: bool = True, sampler: optuna.samplers.BaseSampler | None = None
    ) -> TimedOptunaSearch:
        return TimedOptunaSearch(
            metric=MO_METRIC if multi else "acc",
            mode=MO_MODE if multi else "max",
            storage=self.storage,
            study_name=study,
            sampler=sampler or optuna.samplers.TPESampler(seed=0),
        )

    def fit(
        self,
        trainable: Callable[[dict[str, Any]], None],
        searcher: Searcher,
        n: int,
        name: str,
        param_space: dict[str, Any] | None = None,
    ) -> tuple[tune.ResultGrid | None, float, str]:
        tuner = tune.Tuner(
            trainable,
            param_space=SPACE if param_space is None else param_space,
            tune_config=tune.TuneConfig(
                search_alg=searcher,
                num_samples=n,
                max_concurrent_trials=CONCURRENCY,
                reuse_actors=True,
            ),
            run_config=tune.RunConfig(name=name, storage_path=str(self.root / "tune"), verbose=0),
        )
        t0 = time.perf_counter()
        try:
            grid, err = tuner.fit(), ""
        except Exception as exc:
            grid, err = None, f"{type(exc).__name__}: {str(exc).splitlines()[0][:120]}"
        return grid, time.perf_counter() - t0, err

    def trials(self, study: str) -> list[FrozenTrial]:
        return optuna.load_study(study_name=study, storage=self.storage).get_trials(deepcopy=False)


def _tune_states(grid: tune.ResultGrid | None, err: str) -> str:
    if grid is None:
        return f"fit() raised {err}"
    states = Counter("ERROR" if r.error else "TERMINATED" for r in grid)
    return ", ".join(f"{k} x{v}" for k, v in sorted(states.items()))


def _ot_states(trials: list[FrozenTrial]) -> str:
    return ", ".join(f"{k} x{v}" for k, v in sorted(Counter(t.state.name for t in trials).items()))


def _attrs(trials: list[FrozenTrial]) -> str:
    attrs = {k for t in trials for k in (*t.user_attrs, *t.system_attrs)}
    return ", ".join(sorted(attrs)) or "none"


def check_intermediate(lab: Lab, rows: list[list[str]], notes: list[str]) -> None:
    for multi in (True, False):
        study = "inter_mo" if multi else "inter_so"
        grid, _, err = lab.fit(train_ok, lab.searcher(study, multi), 4, study)
        trials = lab.trials(study)
        counts = [len(t.intermediate_values) for t in trials]
        label = "multi-objective" if multi else "single-objective"
        rows.append(
            [
                f"1. intermediate values ({label})",
                _tune_states(grid, err),
                f"{_ot_states(trials)}; intermediate_values per trial: {counts}",
            ]
        )
        notes.append(
            f"{label}: {sum(counts)} intermediate values persisted for {len(trials)} trials"
        )


class _Captured(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage().splitlines()[0][:100])


def check_nan(lab: Lab, rows: list[list[str]], notes: list[str]) -> None:
    # OptunaSearch catches what `study.tell` raises and only logs it: capture that log.
    log = logging.getLogger(OptunaSearch.__module__)
    for multi in (True, False):
        study = "nan_mo" if multi else "nan_so"
        captured = _Captured()
        log.addHandler(captured)
        log.setLevel(logging.WARNING)
        log.propagate = False
        try:
            grid, _, err = lab.fit(train_nan, lab.searcher(study, multi), 2, study)
        finally:
            log.removeHandler(captured)
        trials = lab.trials(study)
        label = "multi-objective" if multi else "single-objective"
        values = [t.values for t in trials]
        rows.append(
            [
                f"2. acc=NaN every report ({label})",
                _tune_states(grid, err),
                f"{_ot_states(trials)}; values {values}; "
                f"intermediate {[len(t.intermediate_values) for t in trials]}; "
                f"attrs: {_attrs(trials)}",
            ]
        )
        logged = Counter(captured.messages).most_common(1)
        notes.append(
            f"NaN ({label}): fit() {'raised ' + err if err else 'returned'}; Optuna states "
            f"{_ot_states(trials)}; OptunaSearch swallowed and logged: "
            + (f"{logged[0][0]!r} x{logged[0][1]}" if logged else "nothing")
        )


def check_raise(lab: Lab, rows: list[list[str]], notes: list[str]) -> None:
    study = "raise_mo"
    grid, _, err = lab.fit(train_raise, lab.searcher(study), 2, study)
    trials = lab.trials(study)
    tune_err = ""
    if grid is not None and grid.errors:
        first = grid.errors[0]
        tune_err = f"; Tune error: {type(first).__name__}"
    rows.append(
        [
            "3. trainable raises after 2 reports",
            _tune_states(grid, err) + tune_err,
            f"{_ot_states(trials)}; values {[t.values for t in trials]}; "
            f"attrs (reason?): {_attrs(trials)}",
        ]
    )
    notes.append(f"raise: Optuna attrs recorded on failed trials: {_attrs(trials)}")


def check_resume(lab: Lab, rows: list[list[str]], notes: list[str]) -> None:
    study = "resume_mo"
    grid1, _, err1 = lab.fit(train_ok, lab.searcher(study), 6, "resume_1")
    orphan = optuna.load_study(study_name=study, storage=lab.storage).ask()
    sampler = CountingTPESampler(seed=1)
    grid2, _, err2 = lab.fit(train_ok, lab.searcher(study, sampler=sampler), 4, "resume_2")
    trials = lab.trials(study)
    orphan_state = next(t.state.name for t in trials if t.number == orphan.number)
    rows.append(
        [
            "4. second run, same storage/study_name",
            f"run 1: {_tune_states(grid1, err1)}; run 2: {_tune_states(grid2, err2)}",
            f"{_ot_states(trials)}; numbers {[t.number for t in trials]}; "
            f"run-2 sampler saw COMPLETE at each ask: {sampler.complete_seen}; "
            f"orphan #{orphan.number} (ask() never told) is {orphan_state}",
        ]
    )
    notes.append(
        f"resume: study holds {len(trials)} trials after 6+1+4; orphan trial #{orphan.number} "
        f"still {orphan_state} after run 2"
    )


def check_overhead(lab: Lab, notes: list[str]) -> list[list[str]]:
    ideal = N_OVERHEAD * TRIAL_SLEEP_S / CONCURRENCY
    configs = [{"x": i / N_OVERHEAD, "width": 16 + 8 * i} for i in range(N_OVERHEAD)]
    walls: dict[str, list[float]] = {"optuna": [], "fixed": []}
    hooks: dict[str, list[float]] = {"optuna": [], "fixed": []}
    errors: dict[str, str] = {}
    for rep in range(OVERHEAD_REPEATS):  # alternate the two so that machine load hits both
        for key in ("optuna", "fixed"):
            searcher: TimedOptunaSearch | FixedListSearcher
            if key == "optuna":
                searcher, space = lab.searcher(f"overhead_{rep}"), None
            else:
                searcher, space = FixedListSearcher(configs), {}
            _, wall, err = lab.fit(train_ok, searcher, N_OVERHEAD, f"overhead_{key}_{rep}", space)
            walls[key].append(wall)
            hooks[key].append(searcher.hook_s)
            if err:
                errors[key] = err
    table = []
    for key, label in (
        ("optuna", "OptunaSearch (TPE, JournalStorage)"),
        ("fixed", "fixed-list Searcher (no Optuna)"),
    ):
        wall = min(walls[key])
        table.append(
            [
                label + (f" [fit raised {errors[key]}]" if key in errors else ""),
                " / ".join(f"{w:.2f}" for w in walls[key]),
                f"{ideal:.2f}",
                f"{(wall - ideal) / N_OVERHEAD:.3f}",
                f"{max(hooks[key]):.3f}",
            ]
        )
    extra = (min(walls["optuna"]) - min(walls["fixed"])) / N_OVERHEAD
    notes.append(
        f"overhead: OptunaSearch adds {extra:+.3f} s/trial wall over the fixed list (best runs); "
        f"its hooks took at most {max(hooks['optuna']) / N_OVERHEAD:.4f} s/trial on the driver"
    )
    return table


def _markdown(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


def main() -> None:
    root = Path(tempfile.mkdtemp(prefix="searcher_choice_"))
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    rows: list[list[str]] = []
    notes: list[str] = []
    t0 = time.perf_counter()
    os.environ["RAY_AIR_NEW_OUTPUT"] = "0"  # with verbose=0: no per-experiment console boxes
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level="ERROR")
    try:
        lab = Lab(root)
        overhead = check_overhead(lab, notes)
        check_intermediate(lab, rows, notes)
        check_nan(lab, rows, notes)
        check_raise(lab, rows, notes)
        check_resume(lab, rows, notes)
    finally:
        ray.shutdown()
        shutil.rmtree(root, ignore_errors=True)
    print(f"Ray {ray.__version__}, Optuna {optuna.__version__}, {CONCURRENCY} concurrent trials\n")
    print(_markdown(["check", "Tune outcome", "persisted Optuna study"], rows))
    print()
    header = [
        "searcher",
        "wall s (each run)",
        "ideal s",
        "overhead s/trial (best run)",
        "searcher hooks s (worst run)",
    ]
    print(_markdown(header, overhead))
    print()
    for note in notes:
        print(f"- {note}")
    print(f"- total script time {time.perf_counter() - t0:.0f} s")


if __name__ == "__main__":
    main()
