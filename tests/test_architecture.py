"""The folder tree is the architecture: rooms import one way (import-linter's contracts in
pyproject.toml, run by `make lint`), nothing imports the package root, and the kernels import
nothing of hybridlab. The last two are checked here because grimp, which import-linter builds
on, cannot see `hybridlab.kernels` (installed from the top-level kernels/ folder). So is what
importing the executor contract loads, which only running it shows."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import grimp

ROOT = Path(__file__).resolve().parents[1]


def _imported_names(path: Path) -> list[tuple[int, str]]:
    """(line, dotted module) of every import statement in `path`, lazy ones included."""
    names = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names += [(node.lineno, f"{node.module}.{alias.name}") for alias in node.names]
    return names


def test_no_module_imports_the_package_root():
    graph = grimp.build_graph("hybridlab")
    offenders = []
    for importer in sorted(graph.find_modules_that_directly_import("hybridlab")):
        for detail in graph.get_import_details(importer=importer, imported="hybridlab"):
            # `import hybridlab.kernels as kernels` is seen as the root: the kernels live outside.
            if not detail["line_contents"].startswith("import hybridlab.kernels"):
                offenders.append(f"{importer}:{detail['line_number']}: {detail['line_contents']}")
    assert offenders == [], "the root re-exports; nothing inside depends on it"


def test_the_package_root_is_imported_only_through_its_submodules():
    """The same rule read from the source, for modules grimp cannot parse the way Python does."""
    offenders = []
    for path in (ROOT / "hybridlab").rglob("*.py"):
        for line, name in _imported_names(path):
            parts = name.split(".")
            if parts[0] == "hybridlab" and (len(parts) == 1 or parts[1] in _ROOT_EXPORTS):
                offenders.append(f"{path.relative_to(ROOT)}:{line}: {name}")
    assert offenders == []


_ROOT_EXPORTS = {
    "parse",
    "build_model",
    "train_proxy",
    "count_params",
    "state_bytes",
    "flops_per_token",
    "layer_costs",
    "format_spec",
    "ModelSpec",
    "SpecError",
    "__version__",
}


def test_kernels_import_nothing_of_hybridlab():
    offenders = []
    for path in (ROOT / "kernels").rglob("*.py"):
        for line, name in _imported_names(path):
            if name.split(".")[0] == "hybridlab" and not name.startswith("hybridlab.kernels"):
                offenders.append(f"{path.relative_to(ROOT)}:{line}: {name}")
    assert offenders == [], "kernels are pure functions on tensors, below everything"


def test_the_executor_contract_and_the_results_room_import_no_torch():
    """The driver builds requests, picks and checks an executor without the training code:
    only a trial's run imports torch (`hybridlab.execution.worker`), where the trial runs."""
    code = (
        "import sys, hybridlab.execution, hybridlab.results; "
        "from hybridlab.execution import ExecutorConfig, TrialRequest, executor_class; "
        "ExecutorConfig(backend='inline').validate(); executor_class('ray'); "
        "assert 'torch' not in sys.modules, 'torch was imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd="/")
