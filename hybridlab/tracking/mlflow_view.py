"""The front view: the first screen `hybridlab ui` opens.

MLflow 3's runs page loads a *shared view* from the experiment tag
`mlflow.sharedViewState.<key>` when its address carries `?viewStateShareKey=<key>` (the UI's own
"Share" button writes such tags). The tracker writes one, `pareto-front`, when a study starts:

- the filter `tags.pareto = 'true'`, so only front trials are listed;
- sorted by the first objective (best first). A filter with a sort other than "created" lists
  child runs flat, so the front trials are rows of their own, not hidden under the parent;
- the columns: the run name (`<number>: <stack>`, `hybridlab.tracking.mlflow_tracker.run_name`),
  every objective (`obj/<label>`), then the tags `pattern` and `stack`, so each trial's
  architecture and values fit a laptop's screen.

The user can then refine the view (MLflow says the changes are kept only when saved). A store
written before this view existed gets the plain runs page (`front_address` returns it).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from hybridlab.results import objective_metric

VIEW_KEY = "pareto-front"
VIEW_TAG = f"mlflow.sharedViewState.{VIEW_KEY}"
FRONT_FILTER = "tags.pareto = 'true'"


def column(kind: str, name: str) -> str:
    """MLflow's column id: `metrics.`obj/accuracy``, `tags.`stack``."""
    return f"{kind}.`{name}`"


def front_view(labels: Sequence[str], directions: Sequence[str]) -> dict[str, Any]:
    """The shared view state of the front (see the module docstring).

    Example:
        >>> view = front_view(["accuracy", "params"], ["maximize", "minimize"])
        >>> view["orderByKey"], view["orderByAsc"]
        ('metrics.`obj/accuracy`', False)
    """
    objectives = [column("metrics", objective_metric(label)) for label in labels]
    columns = [*objectives, column("tags", "pattern"), column("tags", "stack")]
    return {
        "searchFilter": FRONT_FILTER,
        "orderByKey": objectives[0],
        "orderByAsc": directions[0] == "minimize",
        "selectedColumns": columns,
        "columnOrder": [column("attributes", "Run Name"), *columns],
        # The run name ("<number>: <stack>") says the architecture; it gets the room, the
        # objective columns sit right of it: all fit a laptop's screen (1440 px, with MLflow's
        # assistant panel open). "runDateAndNestInfo" is the id of the Created column.
        "columnWidths": {
            column("attributes", "Run Name"): 280,
            "runDateAndNestInfo": 110,
            **dict.fromkeys(objectives, 95),
            column("tags", "pattern"): 80,
            column("tags", "stack"): 320,
        },
        "runsHiddenMode": "SHOW_ALL",
    }


def save_front_view(
    client: Any, experiment_id: str, labels: Sequence[str], directions: Sequence[str]
) -> None:
    """Write the front view onto the study's experiment (replacing an older one)."""
    client.set_experiment_tag(experiment_id, VIEW_TAG, json.dumps(front_view(labels, directions)))


def front_address(uri: str, experiment_name: str) -> str:
    """The UI's address (after the host) of the study's front view:
    `#/experiments/<id>/runs?viewStateShareKey=pareto-front`; the experiment's runs page for a
    store without the view; "" when the store has no such experiment yet."""
    from mlflow.tracking import MlflowClient

    experiment = MlflowClient(uri).get_experiment_by_name(experiment_name)
    if experiment is None:
        return ""
    runs = f"#/experiments/{experiment.experiment_id}/runs"
    return f"{runs}?viewStateShareKey={VIEW_KEY}" if VIEW_TAG in experiment.tags else runs
