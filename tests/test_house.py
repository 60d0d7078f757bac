"""The house rules, checked on the source: sizes, complexity, imports and layering.

Files under src/ stay <= 300 lines and functions <= 60; `ruff check` (with mccabe complexity
<= 12, configured in pyproject.toml) is clean; no package imports another it must not know;
module-level imports form no cycle; an import inside a function is a documented deferral
(a comment right above it says why: an optional dependency, or keeping the CLI torch-free).
"""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src"
MAX_FILE_LINES, MAX_FUNCTION_LINES = 300, 60

# (importer package, imported package, why): the arrows the house plan forbids.
NEVER = [
    ("shelflm.serving", "shelflm.serving.http", "the engine knows no HTTP"),
    ("shelflm.models", "shelflm.serving", "models do not know how they are served"),
    ("shelflm.models", "shelflm.training", "a model does not train itself"),
    ("shelflm.models", "shelflm.commands", "no layer reaches up to the CLI"),
    ("shelflm.data", "shelflm.models", "data knows nothing of models"),
    ("shelflm.evaluation", "shelflm.training", "evaluation judges, never trains"),
    ("shelflm.encoders", "shelflm.serving", "encoders do not know serving"),
    ("shelflm.text", "shelflm.encoders", "text is rendered without a model"),
]


def modules() -> dict[str, tuple[Path, ast.Module]]:
    found = {}
    for path in sorted(SRC.rglob("*.py")):
        parts = path.relative_to(SRC).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        found[name] = (path, ast.parse(path.read_text(), filename=str(path)))
    return found


def imported(module: str, node: ast.Import | ast.ImportFrom, known: set[str]) -> list[str]:
    """The project modules one import statement names (`from a import b` -> a.b if a module)."""
    if isinstance(node, ast.Import):
        return [a.name for a in node.names if a.name in known]
    base = node.module or ""
    if node.level:  # relative import
        package = module.split(".")[: -node.level] if node.level else []
        base = ".".join([*package, base]) if base else ".".join(package)
    names = [f"{base}.{a.name}" for a in node.names if f"{base}.{a.name}" in known]
    return names or ([base] if base in known else [])


def top_level_imports(tree: ast.Module) -> list[ast.Import | ast.ImportFrom]:
    """Imports that run when the module loads (not under `if TYPE_CHECKING:`)."""
    out = []
    for node in tree.body:
        if isinstance(node, ast.Import | ast.ImportFrom):
            out.append(node)
        elif isinstance(node, ast.Try) or (
                isinstance(node, ast.If) and "TYPE_CHECKING" not in ast.unparse(node.test)):
            out += [n for n in ast.walk(node) if isinstance(n, ast.Import | ast.ImportFrom)]
    return out


def graph() -> dict[str, set[str]]:
    found = modules()
    known = set(found)
    return {name: {t for node in top_level_imports(tree) for t in imported(name, node, known)}
            for name, (_, tree) in found.items()}


def functions(tree: ast.Module) -> list[ast.FunctionDef | ast.AsyncFunctionDef]:
    return [n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)]


def test_files_and_functions_stay_small() -> None:
    too_big = []
    for name, (path, tree) in modules().items():
        lines = path.read_text().count("\n")
        if lines > MAX_FILE_LINES:
            too_big.append(f"{name}: {lines} lines")
        too_big += [f"{name}.{f.name} (line {f.lineno}): {f.end_lineno - f.lineno + 1} lines"
                    for f in functions(tree) if f.end_lineno - f.lineno + 1 > MAX_FUNCTION_LINES]
    assert not too_big, "over the house sizes:\n" + "\n".join(too_big)


def test_ruff_with_complexity_is_clean() -> None:
    ruff = shutil.which("ruff", path=str(Path(sys.executable).parent)) or shutil.which("ruff")
    if ruff is None:
        pytest.skip("ruff is not installed (it is in the [dev] extra)")
    config = (ROOT / "pyproject.toml").read_text()
    assert '"C90"' in config and "max-complexity = 12" in config, "complexity rule not set"
    done = subprocess.run([ruff, "check", "--no-cache", "."], cwd=ROOT, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr


def test_no_forbidden_arrows() -> None:
    broken = []
    for importer, targets in graph().items():
        for src, dst, why in NEVER:
            inside = importer == src or importer.startswith(src + ".")
            if inside and not (importer + ".").startswith(dst + "."):
                broken += [f"{importer} -> {t} ({why})" for t in targets
                           if t == dst or t.startswith(dst + ".")]
    assert not broken, "\n".join(broken)


def test_no_import_cycles() -> None:
    edges = graph()
    state: dict[str, int] = {}  # 1 = on the current path, 2 = done
    cycles = []

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(edges[node]):
            if state.get(nxt) == 1:
                cycles.append(" -> ".join([*path[path.index(nxt):], nxt]))
            elif nxt not in state:
                visit(nxt, [*path, nxt])
        state[node] = 2

    sys.setrecursionlimit(max(sys.getrecursionlimit(), 5000))
    for name in sorted(edges):
        if name not in state:
            visit(name, [name])
    assert not cycles, "import cycles:\n" + "\n".join(cycles)


def test_imports_inside_functions_are_documented() -> None:
    undocumented = []
    for name, (path, tree) in modules().items():
        lines = path.read_text().splitlines()
        for function in functions(tree):
            for node in ast.walk(function):
                if not isinstance(node, ast.Import | ast.ImportFrom):
                    continue
                above = node.lineno - 2  # 0-based index of the line above
                while above >= 0 and lines[above].strip().startswith(("import ", "from ")):
                    above -= 1  # a block of deferred imports shares one comment
                if above < 0 or not lines[above].strip().startswith("#"):
                    undocumented.append(f"{name}:{node.lineno} {ast.unparse(node)}")
    assert not undocumented, ("imports inside functions without a comment saying why:\n"
                              + "\n".join(undocumented))
