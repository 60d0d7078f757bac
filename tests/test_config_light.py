"""Loading a config, `shelflm config show`, `shelflm serve --help` and the serving engine with
its HTTP app never import torch (a model whose loader needs none serves without it: ~430 MB
less resident memory per worker).

Each check runs in a fresh interpreter (this test process has torch loaded already). A meta
path hook records who first imports torch, so a failure names the import chain.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

CHECK = '''
import sys, traceback
assert "torch" not in sys.modules, "torch was loaded at interpreter start-up (sitecustomize?)"

class WatchTorch:
    """Remembers the first import of torch and where it came from; imports nothing."""
    chain = None

    def find_spec(self, name, path=None, target=None):
        if name == "torch" and WatchTorch.chain is None:
            WatchTorch.chain = "".join(
                line for line in traceback.format_stack() if "shelflm" in line)
        return None

sys.meta_path.insert(0, WatchTorch())
{body}
assert "torch" not in sys.modules, "torch was imported by:\\n" + (WatchTorch.chain or "?")
print("light")
'''

CLI = '''
from typer.testing import CliRunner
from shelflm.cli import app
result = CliRunner().invoke(app, {args!r})
assert result.exit_code == 0, result.output
assert {expect!r} in result.output, result.output
'''


def run_light(body: str, cwd: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SHELFLM_")}
    env.update(HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1")
    done = subprocess.run([sys.executable, "-c", CHECK.format(body=body)], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0 and done.stdout.strip().endswith("light"), done.stderr


def test_loading_and_writing_a_config_does_not_import_torch(tmp_path: Path) -> None:
    (tmp_path / "run.toml").write_text("[training]\nepochs = 3\n[serving.store]\n"
                                       "backend = 'memory'\n")
    run_light("from shelflm.settings import load_serving_config, load_shelf_config\n"
              "cfg = load_shelf_config('run.toml', environ={})\n"
              "assert cfg.training.epochs == 3 and 'epochs = 3' in cfg.to_toml(comments=True)\n"
              "assert load_serving_config('run.toml', environ={}).store.backend == 'memory'",
              tmp_path)


@pytest.mark.parametrize(("args", "expect"), [
    (["config", "show"], "[training]"),
    (["serve", "--help"], "Serve recommendations over HTTP"),
])
def test_cli_commands_stay_light(tmp_path: Path, args: list[str], expect: str) -> None:
    run_light(CLI.format(args=args, expect=expect), tmp_path)


def test_a_tuning_method_loads_its_config_without_torch(tmp_path: Path) -> None:
    (tmp_path / "run.toml").write_text("[tuning]\nmethod = 'lora'\nrank = 4\n")
    run_light("from shelflm.settings import load_shelf_config\n"
              "from shelflm.encoders.peft.config import LoraTunerConfig\n"
              "cfg = load_shelf_config('run.toml', environ={})\n"
              "assert type(cfg.tuning) is LoraTunerConfig and cfg.tuning.rank == 4, cfg.tuning\n"
              "assert cfg.to_dict()['tuning']['method'] == 'lora'\n"
              "assert 'rank = 4' in cfg.to_toml(comments=True)",
              tmp_path)


def test_the_serving_engine_and_app_import_without_torch(tmp_path: Path) -> None:
    run_light("from shelflm.serving.engine import Engine\n"
              "from shelflm.serving.http.app import create_app\n"
              "from shelflm.serving.text_blend import TextBlended", tmp_path)
