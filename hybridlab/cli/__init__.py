"""The `hybridlab` command line: a thin Typer app; each command lives in its own module.

User errors print one clear message on stderr and exit with code 2, never a traceback.
"""

# The command modules are imported after `require_working_directory` (below) has run.
# ruff: noqa: E402

from __future__ import annotations

from hybridlab.cli.startup import require_working_directory, run

# Before the command modules import torch, which aborts in a deleted working directory.
require_working_directory()

import typer

from hybridlab.cli.bench_cmd import bench
from hybridlab.cli.dashboard_cmd import dashboard
from hybridlab.cli.export_cmd import export
from hybridlab.cli.spec_cmd import spec
from hybridlab.cli.study_cmd import study_app
from hybridlab.cli.train_cmd import train
from hybridlab.cli.ui_cmd import ui

app = typer.Typer(
    name="hybridlab",
    help="Design hybrid SSM/attention models: specs, proxy training, studies.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    # Help texts are plain: a spec's brackets are not rich markup.
    rich_markup_mode=None,
)


@app.callback()
def _root() -> None:
    """Design hybrid SSM/attention models: specs, proxy training, studies."""


app.command("spec")(spec)
app.command("train")(train)
app.command("bench")(bench)
app.command("export")(export)
app.add_typer(study_app, name="study")
app.command("ui")(ui)
app.command("dashboard")(dashboard)


def main() -> None:
    run(app)


__all__ = ["app", "main"]
