"""Validation at a higher fidelity: does a study's ranking hold when its proxies train longer,
grow wider, or see longer sequences? A client of a finished study, as `study pareto` is.

    from hybridlab.study import load_plan
    from hybridlab.validation import ValidateOptions, resolve_fidelity, validate_study
    plan = load_plan("studies/quickstart.yaml")
    fidelity = resolve_fidelity("studies/quickstart.yaml", [], ["train.steps=4x"], plan)
    report = validate_study(plan, fidelity, ValidateOptions(top=4, sample=4, seeds=2))

Modules: `options` (what is asked for), `fidelity` (the overrides, checked before anything
runs), `selection` (which trials: the front and a stratified sample of the rest), `runner`
(trains what is missing through the study's executor and records it in the study), `ranking`
(rank correlations and bootstrap intervals, on scipy), `report` (the report, from plain data),
`records` (what a validation records), `trackers` (who hears of it) and `mlflow_log` (its MLflow
runs, beside the study's).
"""

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from hybridlab.validation.fidelity import Fidelity, resolve_fidelity
    from hybridlab.validation.options import ValidateOptions
    from hybridlab.validation.runner import validate_study

# The runner imports the study and its executor: imported when first used, so that the CLI and
# the trackers can import this room's records without them.
_LAZY = {
    "Fidelity": "hybridlab.validation.fidelity",
    "resolve_fidelity": "hybridlab.validation.fidelity",
    "ValidateOptions": "hybridlab.validation.options",
    "validate_study": "hybridlab.validation.runner",
}


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(_LAZY[name]), name)


__all__ = [
    "Fidelity",
    "ValidateOptions",
    "resolve_fidelity",
    "validate_study",
]
