"""Reading settings: YAML with the line of every key, typed dataclasses from mappings and
overrides, and errors that say where they are. Torch-free, and below every other room that
reads settings (space, study, execution, tracking, the CLI).

Modules: `errors` (`StudyConfigError` with file, line and key; `SettingError` with the key a
config's own `validate` blames), `yaml_source` (safe YAML with key positions), `merge`
(`merge_dataclass`, `split_overrides`), `addresses` (try a host:port a setting names).
"""

from hybridlab.config.errors import SettingError, StudyConfigError, first_line
from hybridlab.config.merge import merge_dataclass, split_overrides
from hybridlab.config.yaml_source import YamlSource, load_yaml, parse_yaml

__all__ = [
    "SettingError",
    "StudyConfigError",
    "YamlSource",
    "first_line",
    "load_yaml",
    "merge_dataclass",
    "parse_yaml",
    "split_overrides",
]
