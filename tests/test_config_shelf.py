"""ShelfConfig: one TOML file configures a whole run; env overrides; errors; round trips."""

from __future__ import annotations

import json
import tomllib
from dataclasses import fields, is_dataclass
from pathlib import Path

import pytest

from shelflm.config import ConfigError
from shelflm.encoders.peft.config import LoraTunerConfig
from shelflm.settings import ROOT_SECTIONS, ShelfConfig, load_serving_config, load_shelf_config

FULL = """
[data]
path = "shop"
format = "project"
split = "cold-start"
[data.cold_start]
cold_fraction = 0.2
seed = 3
target_events = ["purchase"]

[text]
template = "{title}. Brand: {brand}"

[encoder]
max_length = 32
threads = 1

[tuning]
method = "lora"
rank = 4
target_modules = ["query", "value"]

[model.sequence]
hidden = 32
num_heads = 2
[model.items]
hidden = 32
id_dropout = 0.2

[training]
epochs = 3
lr = 0.01
[training.adversarial]
method = "fgm"
epsilon = 0.1
[training.augment]
weight = 0.5

[serving.store]
backend = "memory"
[serving.rules]
diversity_cap = 2
"""


def write(tmp_path: Path, text: str, name: str = "run.toml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_root_sections_constant_matches_the_tree() -> None:
    assert tuple(f.name for f in fields(ShelfConfig)) == ROOT_SECTIONS


def test_every_field_has_help_in_its_metadata() -> None:
    def missing(config: object, path: str) -> list[str]:
        out = []
        for f in fields(config):
            value = getattr(config, f.name)
            out += [] if f.metadata.get("help") else [path + f.name]
            out += missing(value, f"{path}{f.name}.") if is_dataclass(value) else []
        return out

    full = load_shelf_config(None, environ={})
    assert missing(full, "") == [] and missing(LoraTunerConfig(), "tuning.") == []
    commented = ShelfConfig().to_toml(comments=True)
    assert "# Users per step.\nbatch_size = 128" in commented  # help above each default


def test_full_file_reaches_every_section(tmp_path: Path) -> None:
    cfg = load_shelf_config(write(tmp_path, FULL), environ={})
    assert cfg.data.format == "project" and cfg.data.splitter().cold_fraction == 0.2
    assert cfg.data.cold_start.target_events == ("purchase",)
    assert cfg.text.item_template().format == "{title}. Brand: {brand}"
    assert cfg.encoder.max_length == 32
    assert isinstance(cfg.tuning, LoraTunerConfig)
    assert cfg.tuning.rank == 4 and cfg.tuning.target_modules == ("query", "value")
    assert cfg.model.sequence.num_heads == 2 and cfg.model.items.id_dropout == 0.2
    assert cfg.training.epochs == 3 and cfg.training.adversarial.method == "fgm"
    assert cfg.training.augment.weight == 0.5
    assert cfg.serving.store.backend == "memory" and cfg.serving.rules.diversity_cap == 2
    # Fields the file leaves out keep each part's own defaults.
    assert cfg.training.batch_size == 128 and cfg.serving.index.kind == "auto"


def test_env_overrides_nested_fields(tmp_path: Path) -> None:
    env = {"SHELFLM_TRAINING__ADVERSARIAL__EPSILON": "0.3", "SHELFLM_TUNING__RANK": "16",
           "SHELFLM_STORE__RECENT_LENGTH": "7",  # serving's short form works here too
           "SHELFLM_SERVING__API__API_KEYS": '["k1"]'}
    cfg = load_shelf_config(write(tmp_path, FULL), environ=env)
    assert cfg.training.adversarial.epsilon == 0.3 and cfg.training.adversarial.method == "fgm"
    assert cfg.tuning.rank == 16 and cfg.tuning.alpha == 16.0
    assert cfg.serving.store.recent_length == 7 and cfg.serving.api.api_keys == ["k1"]


@pytest.mark.parametrize(("text", "env", "message"), [
    ("[training]\nepochz = 3\n", {}, r"run.toml: field 'training.epochz'"),
    ("[training]\nlr = 'fast'\n", {}, r"run.toml: field 'training.lr'"),
    ("[model.sequence]\nhidden = 32\n", {}, r"field 'model':.*hidden=32 != item tower"),
    ("[tuning]\nmethod = 'loar'\n", {}, r"field 'tuning':.*unknown fine-tuning method 'loar'"),
    ("[tuning]\nmethod = 'lora'\nrnak = 2\n", {}, r"field 'tuning':.*unknown keys \['rnak'\]"),
    ("[tuning]\nmethod = 'lora'\nrank = 'x'\n", {}, r"field 'tuning.rank'"),
    ("[text]\ntemplate = '{colour}'\n", {}, r"field 'text.template':.*\{colour\} is unknown"),
    ("[data]\nformat = 'excel'\n", {}, r"field 'data.format':.*unknown format 'excel'"),
    ("[encoder]\npooling = 'max'\n", {}, r"field 'encoder.pooling'"),
    ("[tuning]\nmethod = 'adaptor'\n[model.items]\nuse_text = false\n", {},
     r"tunes the text path"),
    ("", {"SHELFLM_TRAINING__EPOCHS": "0"},
     r"environment variable SHELFLM_TRAINING__EPOCHS: field 'training'"),
    ("", {"SHELFLM_TRIANING__EPOCHS": "3"},
     r"environment variable SHELFLM_TRIANING__EPOCHS: field 'trianing'"),
])
def test_errors_name_the_source_and_field(tmp_path: Path, text: str, env: dict,
                                          message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_shelf_config(write(tmp_path, text), environ=env)


def test_round_trip_toml_and_json(tmp_path: Path) -> None:
    cfg = load_shelf_config(write(tmp_path, FULL), environ={})
    for comments in (False, True):
        shown = write(tmp_path, cfg.to_toml(comments), "shown.toml")
        assert load_shelf_config(shown, environ={}) == cfg
    assert ShelfConfig.from_json(cfg.to_json()) == cfg
    assert ShelfConfig.from_dict(tomllib.loads(ShelfConfig().to_toml())) == ShelfConfig()


def test_serving_reads_whole_run_and_serving_only_files(tmp_path: Path) -> None:
    whole = load_serving_config(write(tmp_path, FULL), environ={"SHELFLM_TRAINING__LR": "1"})
    assert whole.store.backend == "memory" and whole.rules.diversity_cap == 2
    only = write(tmp_path, "[store]\nbackend = 'memory'\n", "serve.toml")
    env = {"SHELFLM_SERVING__RULES__OVERSAMPLE": "9", "SHELFLM_API__MAX_K": "5"}
    cfg = load_serving_config(only, environ=env)
    assert cfg.store.backend == "memory" and cfg.rules.oversample == 9 and cfg.api.max_k == 5
    with pytest.raises(ConfigError, match=r"field 'serving.store.backend'"):
        load_serving_config(write(tmp_path, "[serving.store]\nbackend = 'disk'\n"), environ={})
    with pytest.raises(ConfigError, match=r"unknown sections \['store'\]"):
        load_serving_config(write(tmp_path, "[training]\n[store]\n"), environ={})


def test_artifact_without_a_recorded_run_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text(json.dumps({"format": "shelflm-artifact"}))
    with pytest.raises(ConfigError, match="records no run config"):
        load_shelf_config(tmp_path, environ={})


def test_cli_flags_lay_over_the_file(tmp_path: Path) -> None:
    from shelflm.commands.options import with_flags

    base = load_shelf_config(write(tmp_path, "[data]\nsplit = 'temporal'\n[text]\n"
                                   "template = 'full'\n"), environ={})
    cfg = with_flags(base, data=Path("shop"), cold=0.3, seed=4, hidden=32, epochs=2)
    assert cfg.data.path == Path("shop").resolve() and cfg.data.split == "cold-start"
    assert (cfg.data.cold_start.cold_fraction, cfg.data.cold_start.seed) == (0.3, 4)
    assert cfg.training.seed == 4 and cfg.training.epochs == 2
    assert cfg.model.sequence.hidden == cfg.model.items.hidden == 32
    assert cfg.text.template == "full"  # not given as a flag: the file's value stays
    assert with_flags(base, cold=0.0).data.split == "leave-one-out"
    assert with_flags(base) == base
    with pytest.raises(ValueError, match="cold_fraction"):
        with_flags(base, cold=1.5)


def test_config_init_and_show_commands(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from shelflm.cli import app

    path = tmp_path / "shelflm.toml"
    assert CliRunner().invoke(app, ["config", "init", str(path)]).exit_code == 0
    text = path.read_text()
    assert "# Adam learning rate" in text and "# path = (unset)" in text  # help as comments
    assert load_shelf_config(path, environ={}) == ShelfConfig()
    again = CliRunner().invoke(app, ["config", "init", str(path)])
    assert again.exit_code == 2 and "--force" in again.output
    shown = CliRunner().invoke(app, ["config", "show", "--config", str(path), "--json"],
                               env={"SHELFLM_TRAINING__LR": "0.01"})
    assert shown.exit_code == 0, shown.output
    assert ShelfConfig.from_json(shown.output).training.lr == 0.01
    bad = CliRunner().invoke(app, ["config", "show"], env={"SHELFLM_MODEL__ITEMS__HIDDEN": "8"})
    assert bad.exit_code == 2 and "SHELFLM_MODEL__ITEMS__HIDDEN" in bad.output
