"""`shelflm compare | evaluate | demo | data stats` with `--config`: file, flags, registry."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from shelflm.cli import app
from shelflm.data.project_format import write_project_dataset
from shelflm.settings import ARTIFACT_KEY
from shelflm.training.registry import model_names

runner = CliRunner()
SMALL = ("[encoder]\nthreads = 1\n[model.sequence]\nhidden = 16\nnum_blocks = 1\n"
         "[model.items]\nhidden = 16\n[training]\nepochs = 3\npatience = 9\nprogress = false\n")


def write_config(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "run.toml"
    path.write_text(text)
    return path


@pytest.mark.slow
def test_compare_takes_data_and_settings_from_the_config(project_shop: Path,
                                                         tmp_path: Path) -> None:
    config = write_config(tmp_path, f'[data]\npath = "{project_shop}"\n{SMALL}')
    out = tmp_path / "cmp"
    result = runner.invoke(app, ["compare", "--config", str(config), "--models",
                                 "popularity,sasrec-id", "--epochs", "2", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert set(json.loads((out / "compare.json").read_text())) == {"popularity", "sasrec-id"}
    assert (out / "compare.md").is_file() and (out / "compare.png").is_file()
    log = (out / "sasrec-id_log.jsonl").read_text().splitlines()
    assert len(log) == 2  # --epochs beats the file's 3 (patience 9: no early stop)
    assert "seed 0" in (out / "compare.md").read_text()


def test_compare_refuses_unknown_models_before_training(project_shop: Path, tmp_path: Path) -> None:
    out = tmp_path / "cmp"
    result = runner.invoke(app, ["compare", str(project_shop), "--models", "popularity,bert4rec",
                                 "--out", str(out)], env={"COLUMNS": "300"})
    assert result.exit_code == 2
    assert "bert4rec" in result.output and ", ".join(model_names()) in result.output
    assert not out.exists()
    empty = runner.invoke(app, ["compare", str(project_shop), "--models", " , "])
    assert empty.exit_code == 2 and "no model names" in empty.output
    nothing = runner.invoke(app, ["compare"])
    assert nothing.exit_code == 2 and "no dataset" in nothing.output


@pytest.mark.slow
def test_train_takes_several_shops_and_the_artifact_serves_each(tmp_path: Path) -> None:
    from shelflm.data.synthetic import SyntheticShopConfig, generate_shop

    shops = []
    for name, seed in (("north", 1), ("south", 2)):
        shop = generate_shop(SyntheticShopConfig(num_users=30, num_items=20, target_events=400,
                                                 seed=seed))
        shops.append(write_project_dataset(shop, tmp_path / name))
    out = tmp_path / "both"
    result = runner.invoke(app, ["train", *map(str, shops), "--out", str(out), "--config",
                                 str(write_config(tmp_path, SMALL))])
    assert result.exit_code == 0, result.output
    config = json.loads((out / "config.json").read_text())
    assert config["num_items"] == 40
    assert [Path(p).name for p in config[ARTIFACT_KEY]["data"]["also"]] == ["south"]
    one = runner.invoke(app, ["evaluate", str(out), str(shops[1])])  # its own, unprefixed ids
    assert one.exit_code == 0, one.output
    assert json.loads(one.stdout)["num_cases"] >= 20


@pytest.mark.slow
def test_transfer_trains_only_the_adaptor_of_an_artifact(tmp_path: Path) -> None:
    from safetensors.numpy import load_file

    from shelflm.data.synthetic import SyntheticShopConfig, generate_shop

    shops = [write_project_dataset(generate_shop(SyntheticShopConfig(
        num_users=30, num_items=n, target_events=400, seed=n)), tmp_path / f"shop{n}")
        for n in (20, 25)]
    config = str(write_config(tmp_path, SMALL))
    source, target = tmp_path / "source", tmp_path / "target"
    assert runner.invoke(app, ["train", str(shops[0]), "--out", str(source), "--config",
                               config]).exit_code == 0
    result = runner.invoke(app, ["train", str(shops[1]), "--out", str(target), "--config",
                                 config, "--init-from", str(source), "--train-only", "adaptor"])
    assert result.exit_code == 0, result.output
    share = re.search(r"trainable weights: ([\d,]+) of ([\d,]+)", result.output)
    trainable, total = (int(g.replace(",", "")) for g in share.groups())
    assert 0 < trainable < total
    before, after = load_file(str(source / "model.safetensors")), load_file(
        str(target / "model.safetensors"))
    tower = [k for k in after if k.startswith("encoder.")]
    assert tower and all((before[k] == after[k]).all() for k in tower)  # frozen, copied
    head = [k for k in after if k.startswith("item_tower.text_head.linear")]
    assert head and any((before[k] != after[k]).any() for k in head)  # trained
    bad = runner.invoke(app, ["train", str(shops[1]), "--init-from", str(tmp_path),
                              "--out", str(tmp_path / "x")])
    assert bad.exit_code == 2 and "not a shelflm artifact" in bad.output
    wrong = runner.invoke(app, ["train", str(shops[1]), "--train-only", "towers",
                                "--out", str(tmp_path / "x")])
    assert wrong.exit_code == 2 and "train_only" in wrong.output


def test_train_refuses_an_unknown_model(project_shop: Path, tmp_path: Path) -> None:
    result = runner.invoke(app, ["train", str(project_shop), "--model", "bert4rec",
                                 "--out", str(tmp_path / "a")], env={"COLUMNS": "300"})
    assert result.exit_code == 2 and "known models: shelflm" in result.output


def test_evaluate_reads_the_dataset_from_the_config(tiny_trained, trained_artifact: Path,
                                                    tmp_path: Path) -> None:
    data = write_project_dataset(tiny_trained.dataset, tmp_path / "data")
    by_arg = runner.invoke(app, ["evaluate", str(trained_artifact), str(data)])
    assert by_arg.exit_code == 0, by_arg.output
    metrics = json.loads(by_arg.output)
    assert {"hr@10", "ndcg@10", "mrr"} <= set(metrics)
    config = write_config(tmp_path, f'[data]\npath = "{data}"\n')
    by_config = runner.invoke(app, ["evaluate", str(trained_artifact), "--config", str(config)])
    assert by_config.exit_code == 0, by_config.output
    assert json.loads(by_config.output) == metrics


def test_evaluate_scores_another_shop_zero_shot(trained_artifact: Path,
                                                project_shop: Path) -> None:
    result = runner.invoke(app, ["evaluate", str(trained_artifact), str(project_shop)])
    assert result.exit_code == 0, result.output
    assert {"hr@10", "ndcg@10", "mrr"} <= set(json.loads(result.stdout))


def test_data_stats_reads_path_and_format_from_the_config(project_shop: Path,
                                                          tmp_path: Path) -> None:
    config = write_config(tmp_path, f'[data]\npath = "{project_shop}"\nformat = "project"\n')
    result = runner.invoke(app, ["data", "stats", "--config", str(config)],
                           terminal_width=200)
    assert result.exit_code == 0, result.output
    assert "users" in result.output and "60" in result.output
    bad = runner.invoke(app, ["data", "stats", "--config", str(tmp_path / "missing.toml")])
    assert bad.exit_code == 2 and "missing.toml" in bad.output


@pytest.mark.parametrize("command", [
    ["train"], ["evaluate"], ["compare"], ["demo"], ["serve"], ["data", "stats"],
    ["data", "convert"], ["config", "show"], ["config", "init"]])
def test_every_command_takes_a_config_file(command: list[str]) -> None:
    result = runner.invoke(app, [*command, "--help"], terminal_width=200)
    assert result.exit_code == 0 and "--config" in result.output, result.output


@pytest.mark.slow
def test_demo_runs_every_registered_model_from_its_config(tmp_path: Path) -> None:
    config = write_config(tmp_path, SMALL)
    out = tmp_path / "demo"
    result = runner.invoke(app, ["demo", "--users", "40", "--items", "25", "--no-serve",
                                 "--epochs", "1", "--out", str(out), "--config", str(config)])
    assert result.exit_code == 0, result.output
    assert set(json.loads((out / "report" / "compare.json").read_text())) == set(model_names())
    assert json.loads((out / "artifact" / "config.json").read_text())["dim"] == 16
    assert len((out / "report" / "shelflm_log.jsonl").read_text().splitlines()) == 1
    assert (out / "events.sqlite").is_file()


@pytest.mark.slow
def test_demo_serves_with_a_fresh_key_and_names_its_files(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from shelflm.commands import serve as serve_command

    served: list = []  # the server does not start: serve's last step records its config
    monkeypatch.setattr(serve_command, "_run_server", lambda cfg, *args: served.append(cfg))
    monkeypatch.delenv("SHELFLM_API_KEY", raising=False)
    monkeypatch.setenv("SHELFLM_DATA", str(tmp_path / "data-dir"))
    out = tmp_path / "demo"
    result = runner.invoke(app, ["demo", "--users", "40", "--items", "25", "--epochs", "1",
                                 "--no-compare", "--out", str(out),
                                 "--config", str(write_config(tmp_path, SMALL))])
    assert result.exit_code == 0, result.output
    key = re.search(r"API key of this run: (\S+)\)", result.output).group(1)
    assert len(key) >= 32 and served[0].api.api_keys == [key]
    assert f"-H 'X-API-Key: {key}'" in result.output  # a curl that uses it
    assert f"shelflm serve {out / 'artifact'} --api-key {key}" in result.output
    for path in ("data", "artifact", "events.sqlite", "report/compare.md"):
        assert str(out / path) in result.output
    assert served[0].store.path == out / "events.sqlite"
    assert not (out / "report").exists()  # --no-compare
    # Served again, the artifact names the demo's store: no --events-db needed.
    again = runner.invoke(app, ["serve", str(out / "artifact"), "--open"])
    assert again.exit_code == 0, again.output
    assert served[1].store.path == (out / "events.sqlite").resolve()
    assert "EMPTY" not in again.output


def test_demo_defaults_lie_under_the_file_the_environment_and_the_flags(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from shelflm.commands.demo import DEMO_DEFAULTS
    from shelflm.commands.options import load_run_config

    monkeypatch.delenv("SHELFLM_TRAINING__EPOCHS", raising=False)
    plain = load_run_config(None, base=DEMO_DEFAULTS).training
    assert (plain.epochs, plain.time_budget_s) == (20, 120.0)
    config = write_config(tmp_path, "[training]\nepochs = 3\n")
    filed = load_run_config(config, base=DEMO_DEFAULTS).training
    assert (filed.epochs, filed.time_budget_s) == (3, 120.0)
    flagged = load_run_config(config, base=DEMO_DEFAULTS, epochs=5, time_budget_s=9.0).training
    assert (flagged.epochs, flagged.time_budget_s) == (5, 9.0)
    monkeypatch.setenv("SHELFLM_TRAINING__EPOCHS", "7")
    assert load_run_config(config, base=DEMO_DEFAULTS).training.epochs == 7
    assert load_run_config(None).training.epochs == 7  # no base: the environment still wins


def test_config_init_can_start_from_a_given_config(tmp_path: Path) -> None:
    from shelflm.settings import load_shelf_config

    source = write_config(tmp_path, "[training]\nepochs = 4\n[text]\ntemplate = 'full'\n")
    target = tmp_path / "copy.toml"
    result = runner.invoke(app, ["config", "init", str(target), "--config", str(source)])
    assert result.exit_code == 0, result.output
    assert "# Adam learning rate" in target.read_text()  # commented like the defaults
    assert load_shelf_config(target, environ={}) == load_shelf_config(source, environ={})
