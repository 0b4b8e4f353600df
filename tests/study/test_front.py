"""The front: Optuna's best_trials against a brute-force dominance check."""

from __future__ import annotations

import random

import optuna
import pytest

from hybridlab.pareto import dominates, nondominated, nondominated_ranks
from hybridlab.study.front import study_front

optuna.logging.set_verbosity(optuna.logging.WARNING)


def brute_force_front(values, directions):
    signs = [1 if d == "minimize" else -1 for d in directions]
    front = []
    for i, v in enumerate(values):
        dominated = False
        for j, w in enumerate(values):
            a = [s * x for s, x in zip(signs, w, strict=True)]
            b = [s * x for s, x in zip(signs, v, strict=True)]
            if j != i and all(x <= y for x, y in zip(a, b, strict=True)) and a != b:
                dominated = True
        if not dominated:
            front.append(i)
    return front


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize(
    "directions",
    [
        pytest.param(["maximize", "minimize"], id="acc-params"),
        pytest.param(["maximize", "minimize", "minimize"], id="acc-params-state"),
    ],
)
def test_study_front_is_the_nondominated_set(seed, directions):
    rng = random.Random(seed)
    study = optuna.create_study(directions=directions)
    values = []
    for i in range(40):
        trial = study.ask()
        trial.set_user_attr("stack", f"stack-{i}")
        # Coarse values make exact ties (neither dominates the other) frequent.
        v = [rng.randint(0, 4) / 4] + [float(rng.randint(1, 6)) for _ in directions[1:]]
        values.append(v)
        if i % 7 == 3:
            study.tell(trial, state=optuna.trial.TrialState.FAIL)  # failed trials are never on it
            values[-1] = None
        else:
            study.tell(trial, v)
    complete = [i for i, v in enumerate(values) if v is not None]
    expected = [complete[k] for k in brute_force_front([values[i] for i in complete], directions)]
    labels = [f"o{k}" for k in range(len(directions))]
    front = study_front(study, labels)
    assert [p.number for p in front] == expected
    assert [
        complete[k] for k in nondominated([values[i] for i in complete], directions)
    ] == expected
    assert all(p.stack == f"stack-{p.number}" for p in front)
    assert front[0].values == dict(zip(labels, values[front[0].number], strict=True))


def test_dominance():
    assert dominates([0.9, 10], [0.8, 10], ["maximize", "minimize"])
    assert not dominates([0.9, 10], [0.9, 10], ["maximize", "minimize"])
    assert not dominates([0.9, 11], [0.8, 10], ["maximize", "minimize"])


def test_nondominated_ranks_are_sorting_layers():
    values = {0: [1.0, 1.0], 1: [2.0, 2.0], 2: [3.0, 3.0], 3: [1.0, 3.0], 4: [0.5, 0.5]}
    ranks = nondominated_ranks(values, ["minimize", "minimize"])
    assert ranks == {4: 1, 0: 2, 1: 3, 3: 3, 2: 4}
