"""Layer kinds from outside hybridlab (the `hybridlab.kinds` entry points).

The toy package in tests/plugins/toykind is installed into a temporary folder (its .dist-info
written from its own pyproject.toml, or by pip in the slow test) and used in a fresh process, so
this process's registry never sees it: the spec language, the cost model and a search space load
its config without torch; `hybridlab.testing.check_kind` passes; it builds, trains, and is
searched by a study; `hybridlab spec` prints it. Refusals (clashes, broken declarations) are
checked in-process on `discover_kinds` and `load_plugin_layers` with stand-in entry points.
"""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
import textwrap
import tomllib
import types
from dataclasses import dataclass
from pathlib import Path

import pytest

from hybridlab.layers.base import Layer
from hybridlab.layers.plugins import load_plugin_layers
from hybridlab.spec.kinds import BUILTIN_KINDS, LayerConfig
from hybridlab.spec.kinds.plugins import DISABLE_ENV, KindPluginError, PluginKind, discover_kinds

TOYKIND = Path(__file__).resolve().parent / "toykind"


def install_toykind(target: Path) -> dict[str, str]:
    """Make the toy package importable with its entry points from `target`, as pip would:
    a `.dist-info` (METADATA, entry_points.txt from pyproject.toml). Returns the environment of
    a process that sees it."""
    project = tomllib.loads((TOYKIND / "pyproject.toml").read_text())["project"]
    name, version = project["name"], project["version"]
    info = target / f"{name.replace('-', '_')}-{version}.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")
    sections = [
        f"[{group}]\n" + "".join(f"{key} = {value}\n" for key, value in entries.items())
        for group, entries in project["entry-points"].items()
    ]
    (info / "entry_points.txt").write_text("\n".join(sections))
    return plugin_env(target, TOYKIND)


def plugin_env(*paths: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != DISABLE_ENV}
    env["PYTHONPATH"] = os.pathsep.join([*map(str, paths), env.get("PYTHONPATH", "")])
    return env


# Run in a fresh process with the toy kind installed; argv[1] is a folder for its files.
END_TO_END = textwrap.dedent(
    """
    import json, sys
    from pathlib import Path

    import hybridlab
    from hybridlab.config import load_yaml
    from hybridlab.space import RandomSuggester, load_space
    from hybridlab.spec.kinds import ALIASES, KINDS, LETTERS, PLUGINS

    folder = Path(sys.argv[1])
    # The torch-free rooms: spec language, cost model, a search space with `ssm: toy`.
    spec = hybridlab.parse("[toy(hidden=8), mlp]*2, attn(heads=2)", d_model=32, vocab_size=64)
    assert spec.pattern() == "T-T-*", spec.pattern()
    assert hybridlab.parse("T-*", d_model=32).format() == "toy, mlp, attn"
    assert hybridlab.parse("toy_ema(hidden=8)", d_model=32).layers == spec.layers[:1]
    assert LETTERS["T"] == ALIASES["toy_ema"] == "toy" and "toy" in KINDS
    assert PLUGINS["toy"].package == "hybridlab-toykind", PLUGINS
    params = hybridlab.count_params(spec)
    assert hybridlab.state_bytes(spec, 64) == 4 * (2 * 8 + 2 * 2 * 16 * 64)
    space = load_space(load_yaml(folder / "space.yaml", what="space"))
    assert {p.spec.pattern() for p in space.precheck(64, draws=16)} == {"T-T-", "T-*-"}
    assert "torch" not in sys.modules, "spec, cost or space imported torch"

    # The contract, a model, a few training steps.
    from hybridlab.testing import check_kind
    from toykind.config import ToyConfig
    from toykind.layer import EMAMixer

    check_kind(ToyConfig, EMAMixer, configs=[ToyConfig(), ToyConfig(hidden=5)])
    model = hybridlab.build_model(spec)
    assert params == sum(p.numel() for p in model.parameters())
    from hybridlab.tasks import make_task
    from hybridlab.train import TrainConfig

    task = make_task("mqar", {"vocab_size": 64, "seq_len": 16, "num_kv_pairs": 2,
                              "num_train_examples": 64, "num_eval_examples": 16})
    result = hybridlab.train_proxy(spec, task, TrainConfig(steps=3, batch_size=8, eval_every=None))
    assert result.status == "ok", result.failure_reason

    # The CLI: `hybridlab spec` and a tiny study (inline, no tracking) that searches it.
    from typer.testing import CliRunner
    from hybridlab.cli import app

    shown = CliRunner().invoke(app, ["spec", "T-*-", "--d-model", "32", "--json"])
    assert shown.exit_code == 0, shown.output
    assert json.loads(shown.stdout)["canonical"] == "toy, mlp, attn, mlp"
    ran = CliRunner().invoke(app, ["study", "run", str(folder / "study.yaml")])
    assert ran.exit_code == 0, ran.output
    front = CliRunner().invoke(app, ["study", "pareto", str(folder / "study.yaml"), "--json"])
    assert front.exit_code == 0, front.output
    print(json.dumps({"study": ran.output, "front": front.stdout}))
    """
)

SPACE = """\
knobs:
  ssm: {choice: [toy]}
  attn_ratio: {choice: [0.0, 0.5]}
  toy: {hidden: {choice: [8]}}
model:
  d_model: 32
  layout: {depth: 2, attn_ratio: "${knobs.attn_ratio}", placement: back, ssm: "${knobs.ssm}",
           mlp: true}
  defaults: {toy: {hidden: "${knobs.toy.hidden}"}, attn: {heads: 2}}
costs: {context: 16, dtype: fp32}
"""

STUDY = """\
name: toy
space: space.yaml
task: {name: mqar, vocab_size: 64, seq_len: 16, num_kv_pairs: 2, num_train_examples: 64,
       num_eval_examples: 16}
train: {steps: 2, batch_size: 8, eval_every: null, device: cpu, num_threads: 1, seed: 0}
objectives: [{name: accuracy}, {name: params}, {name: state_bytes, context: 16}]
sampler: {name: grid, seed: 0}
budget: {trials: 2}
executor: {backend: inline}
tracking: none
output: out
"""


def run_end_to_end(env: dict[str, str], folder: Path) -> dict[str, str]:
    (folder / "space.yaml").write_text(SPACE)
    (folder / "study.yaml").write_text(STUDY)
    done = subprocess.run(
        [sys.executable, "-c", END_TO_END, str(folder)],
        env=env,
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-4000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.slow
def test_a_plugin_kind_is_built_trained_and_searched_like_a_builtin(tmp_path):
    out = run_end_to_end(install_toykind(tmp_path / "site"), tmp_path)
    front = json.loads(out["front"])
    assert front["trials"]["complete"] == 2, out["study"]
    assert {trial["pattern"] for trial in front["front"]} <= {"T-T-", "T-*-"}
    assert all("toy(hidden=8)" in trial["stack"] for trial in front["front"])


@pytest.mark.slow
def test_pip_installs_the_toy_package_with_its_entry_point(tmp_path):
    """The real thing: pip builds the toy package from its pyproject.toml (no network)."""
    target = tmp_path / "site"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--no-deps",
            "--no-build-isolation",
            "--no-index",
            "--target",
            str(target),
            str(TOYKIND),
        ],
        check=True,
        capture_output=True,
        timeout=300,
    )
    check = "from hybridlab.spec.kinds import PLUGINS; print(PLUGINS['toy'].package)"
    done = subprocess.run(
        [sys.executable, "-c", check], env=plugin_env(target), capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "hybridlab-toykind"


def test_a_clash_stops_the_import_naming_the_package_and_the_way_out(tmp_path):
    env = install_toykind(tmp_path / "site")
    clash = tmp_path / "clash"
    (clash / "clashkind").mkdir(parents=True)
    (clash / "clashkind" / "__init__.py").write_text(
        "from dataclasses import dataclass\n"
        "from hybridlab.spec.kinds.base import LayerConfig\n\n\n"
        "@dataclass(frozen=True, kw_only=True, slots=True)\n"
        "class Clash(LayerConfig):\n"
        "    kind = 'clash'\n    letter = 'M'\n    layer_class = 'clashkind:Layer'\n"
    )
    info = clash / "hybridlab_clashkind-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: hybridlab-clashkind\nVersion: 1.0\n"
    )
    (info / "entry_points.txt").write_text("[hybridlab.kinds]\nclash = clashkind:Clash\n")
    env["PYTHONPATH"] = f"{clash}{os.pathsep}{env['PYTHONPATH']}"
    code = "import hybridlab; print(sorted(hybridlab.spec.KINDS))"
    failed = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert failed.returncode != 0
    assert "package 'hybridlab-clashkind' declares layer kind 'clash'" in failed.stderr
    assert "pattern letter 'M' is already taken by the built-in kind 'ssd'" in failed.stderr
    assert DISABLE_ENV in failed.stderr
    escaped = subprocess.run(
        [sys.executable, "-c", code], env={**env, DISABLE_ENV: "1"}, capture_output=True, text=True
    )
    assert escaped.returncode == 0 and "'toy'" not in escaped.stdout, escaped.stderr


# ---- refusals, in-process, on stand-in entry points -------------------------------------------


@dataclass(frozen=True)
class FakeEntryPoint:
    name: str
    target: object
    dist: object = dataclasses.field(default_factory=lambda: types.SimpleNamespace(name="pkg-a"))

    @property
    def value(self) -> str:
        return f"fake.module:{getattr(self.target, '__name__', 'x')}"

    def load(self) -> object:
        if isinstance(self.target, Exception):
            raise self.target
        return self.target


def config_class(kind: str, letter: str, aliases: tuple[str, ...] = (), layer: str = "m:Layer"):
    namespace = {"kind": kind, "letter": letter, "aliases": aliases, "layer_class": layer}
    cls = types.new_class(kind.title(), (LayerConfig,), {}, lambda ns: ns.update(namespace))
    return dataclass(frozen=True, kw_only=True, slots=True)(cls)


def test_discovery_registers_a_well_formed_kind():
    cls = config_class("wave", "W", aliases=("wavelet",))
    found = discover_kinds(BUILTIN_KINDS, [FakeEntryPoint("wave", cls)])
    assert found["wave"].config_cls is cls and found["wave"].package == "pkg-a"


@pytest.mark.parametrize(
    ("entry_points", "message"),
    [
        pytest.param(
            [FakeEntryPoint("gdn", config_class("gdn", "W"))],
            "its kind name 'gdn' is already taken by the built-in kind 'gdn'",
            id="builtin-kind",
        ),
        pytest.param(
            [FakeEntryPoint("wave", config_class("wave", "W", aliases=("mamba2",)))],
            "its alias 'mamba2' is already taken by the built-in kind 'ssd'",
            id="builtin-alias",
        ),
        pytest.param(
            [FakeEntryPoint("wave", config_class("wave", "G"))],
            "its pattern letter 'G' is already taken by the built-in kind 'gdn'",
            id="builtin-letter",
        ),
        pytest.param(
            [
                FakeEntryPoint("wave", config_class("wave", "W")),
                FakeEntryPoint(
                    "wind", config_class("wind", "W"), types.SimpleNamespace(name="pkg-b")
                ),
            ],
            "package 'pkg-b' declares layer kind 'wind' (hybridlab.kinds: wind = "
            "fake.module:Wind), but its pattern letter 'W' is already taken by kind 'wave' of "
            "package 'pkg-a'",
            id="two-packages",
        ),
        pytest.param(
            [FakeEntryPoint("wave", dict)],
            "which is not a subclass of hybridlab's LayerConfig",
            id="not-a-config",
        ),
        pytest.param(
            [FakeEntryPoint("wave", types.new_class("Wave", (LayerConfig,)))],
            "Wave is not a dataclass",
            id="not-a-dataclass",
        ),
        pytest.param(
            [FakeEntryPoint("waves", config_class("wave", "W"))],
            "the entry point's name must be the kind, 'wave'",
            id="name-is-not-the-kind",
        ),
        pytest.param(
            [FakeEntryPoint("wave", config_class("wave", "w"))],
            "pattern letter must be one upper-case letter A-Z, got 'w'",
            id="lower-case-letter",
        ),
        pytest.param(
            [FakeEntryPoint("Wave", config_class("Wave", "W"))],
            "lower-case identifiers, got 'Wave'",
            id="upper-case-kind",
        ),
        pytest.param(
            [FakeEntryPoint("wave", config_class("wave", "W", layer="wave.layer.Wave"))],
            "must name the layer module as 'package.module:Class', got 'wave.layer.Wave'",
            id="layer-not-an-import-string",
        ),
        pytest.param(
            [FakeEntryPoint("wave", ImportError("No module named 'scipy2'"))],
            "which cannot be loaded: ImportError: No module named 'scipy2'",
            id="import-error",
        ),
    ],
)
def test_discovery_refuses_with_the_package_named(entry_points, message):
    with pytest.raises(KindPluginError) as info:
        discover_kinds(BUILTIN_KINDS, entry_points)
    assert message in str(info.value)
    assert "package 'pkg-" in str(info.value) and DISABLE_ENV in str(info.value)


def test_the_layer_module_is_imported_and_checked(monkeypatch):
    cls = config_class("wave", "W", layer="fake_wave_layers:WaveLayer")

    class WaveLayer(Layer):
        config_cls = cls

    class Stranger(Layer):
        config_cls = BUILTIN_KINDS[0]

    module = types.ModuleType("fake_wave_layers")
    module.WaveLayer, module.Stranger, module.NotALayer = WaveLayer, Stranger, dict
    monkeypatch.setitem(sys.modules, "fake_wave_layers", module)
    plugin = PluginKind(config_cls=cls, package="pkg-a", entry_point="wave = fake:Wave")
    assert load_plugin_layers({"wave": plugin}) == {"wave": WaveLayer}
    for layer, message in [
        ("fake_wave_layers:Missing", "cannot be imported: AttributeError"),
        ("no_such_module_here:X", "cannot be imported: ModuleNotFoundError"),
        ("fake_wave_layers:NotALayer", "not a subclass of hybridlab.layers.Layer"),
        ("fake_wave_layers:Stranger", "set `config_cls = Wave` on Stranger"),
    ]:
        monkeypatch.setattr(cls, "layer_class", layer)
        with pytest.raises(KindPluginError, match="package 'pkg-a': layer kind 'wave'") as info:
            load_plugin_layers({"wave": plugin})
        assert message in str(info.value)
