"""The layers of docs/architecture.md, checked: in rust/src/core and in python/sealbox
every import goes down a layer (or, inside one layer's folder, between its files
without a circle). A module that imports one above it fails here."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CORE = ROOT / "rust" / "src" / "core"
PACKAGE = ROOT / "python" / "sealbox"

# Lowest first. A module may import only modules of a lower layer, and the
# files of one layer's folder only each other without a circle.
RUST_LAYERS = {
    "error": 0,
    "rng": 1,
    "format": 2,
    "primitives": 2,
    "keys": 3,
    "seal": 4,
    "batch": 5,
    "search": 6,
    "compat": 7,
    "privacy": 7,  # log scrubbing and IP pseudonyms: tokens from search
}

PYTHON_LAYERS = {
    "_native": 0,
    "_errors": 0,
    "_provider": 0,  # the provider protocols: the standard library only
    "_arrow": 1,
    "audit": 1,
    "hazmat": 2,  # above _public (SealedBox takes its keys)
    "_keyring": 1,
    "codecs": 1,
    "_plaintext": 1,
    "_undecryptable": 1,  # the error the ORM integrations raise for a value that does not decrypt
    "_public": 1,  # X25519 key pairs and the HPKE key-encryption key
    "_files": 2,  # the stream format's file objects, below Box
    "normalizers": 2,
    "_derive": 2,
    "_envelope": 2,
    "_context": 2,
    "providers": 2,
    "_box": 3,
    "_blind": 4,
    "_spec": 4,  # BoxSpec: builds a Box from keys it finds where it runs
    "compat": 5,
    "privacy": 5,  # IP masking, log scrubbing: tokens from BlindIndex
    "arrow": 5,  # the Arrow table kernel: Box batches over whole tables
    "tables": 6,  # the table jobs: above Box, codecs and contexts; below the commands
    "dask": 6,  # the engine adapters, over the Arrow kernel
    "spark": 6,
    "sqlalchemy": 7,  # ORM columns, above the table jobs
    "django": 7,
    "demo": 7,
    "cli": 8,
    "__init__": 9,  # the façade, `import sealbox`: it names every module
}

Graph = dict[str, set[str]]


def layer_violations(graph: Graph, layers: dict[str, int]) -> list[str]:
    """Every edge that goes up or sideways between layers, every module with no
    layer, and every circle."""
    found: list[str] = []

    def top(module: str) -> str:
        return module.split(".")[0]

    for module, targets in sorted(graph.items()):
        if top(module) not in layers:
            found.append(f"{module} has no layer")
            continue
        for target in sorted(targets):
            if top(target) not in layers:
                found.append(f"{module} imports {target}, which has no layer")
            elif top(target) != top(module) and layers[top(target)] >= layers[top(module)]:
                found.append(
                    f"{module} (layer {layers[top(module)]}) imports {target} (layer {layers[top(target)]})"
                )
    found += [f"circle: {' -> '.join(c)}" for c in circles(graph)]
    return found


def circles(graph: Graph) -> list[list[str]]:
    """One circle through each strongly connected part with more than one module (or a self-import)."""
    out: list[list[str]] = []
    state: dict[str, int] = {}  # 1 on the stack, 2 done
    stack: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                out.append([*stack[stack.index(nxt) :], nxt])
            elif nxt not in state:
                visit(nxt)
        stack.pop()
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node)
    return out


# Rust: `crate::core::a::b` paths (in `use` lines and inline), per file.

_RUST_PATH = re.compile(r"crate::core::((?:[a-z_][a-z0-9_]*::)*[a-z_][a-z0-9_]*|\{)")


def rust_module(path: Path) -> str:
    parts = list(path.relative_to(CORE).with_suffix("").parts)
    if parts[-1] == "mod":
        parts.pop()
    return ".".join(parts)


def rust_graph() -> Graph:
    modules = {rust_module(p) for p in CORE.rglob("*.rs") if p.name != "mod.rs" or p.parent != CORE}
    graph: Graph = {m: set() for m in modules}
    for path in sorted(CORE.rglob("*.rs")):
        if path == CORE / "mod.rs":
            continue
        module = rust_module(path)
        code = "\n".join(line.split("//")[0] for line in path.read_text().splitlines())
        for match in _RUST_PATH.finditer(code):
            if match.group(1) == "{":
                graph[module].add("crate::core::{...} (name the module)")
                continue
            segments = match.group(1).split("::")
            # The longest prefix that names a module: `format::envelope::X` -> format.envelope.
            target = next(
                (
                    ".".join(segments[:n])
                    for n in range(len(segments), 0, -1)
                    if ".".join(segments[:n]) in modules
                ),
                segments[0],
            )
            if target != module:
                graph[module].add(target)
    return graph


# Python: every `import sealbox.x` / `from sealbox[.x] import y`, wherever it stands.


def python_module(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE).with_suffix("").parts)
    if parts[-1] == "__init__" and len(parts) > 1:
        parts.pop()
    return ".".join(parts)


def python_graph() -> Graph:
    files = sorted(PACKAGE.rglob("*.py")) + sorted(PACKAGE.glob("*.pyi"))
    modules = {python_module(p) for p in files}
    graph: Graph = {python_module(p): set() for p in files if p.suffix == ".py"}
    for path in files:
        if path.suffix != ".py":
            continue
        module = python_module(path)
        for node in ast.walk(ast.parse(path.read_text())):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                # `from sealbox import audit` names a module, `from sealbox import Box` the façade.
                names = [f"{node.module}.{a.name}" for a in node.names]
            for name in names:
                if name != "sealbox" and not name.startswith("sealbox."):
                    continue
                dotted = name.removeprefix("sealbox").removeprefix(".") or "__init__"
                segments = dotted.split(".")
                target = next(
                    (
                        ".".join(segments[:n])
                        for n in range(len(segments), 0, -1)
                        if ".".join(segments[:n]) in modules
                    ),
                    "__init__",
                )
                if target is not None and target != module and not module.startswith(target + "."):
                    graph[module].add(target)
    return graph


def test_rust_core_imports_only_downward() -> None:
    graph = rust_graph()
    assert {"format", "format.envelope", "seal", "seal.envelope", "primitives.kdf", "search"} <= set(graph)
    assert layer_violations(graph, RUST_LAYERS) == []


def test_python_package_imports_only_downward() -> None:
    graph = python_graph()
    assert {"_box", "_envelope", "providers", "providers._aws_kms"} <= set(graph)
    assert layer_violations(graph, PYTHON_LAYERS) == []


def test_the_check_fails_on_an_upward_import_and_a_circle() -> None:
    layers = {"low": 0, "mid": 1, "high": 2}
    assert layer_violations({"high": {"mid", "low"}, "mid": {"low"}, "low": set()}, layers) == []
    up = layer_violations({"low": {"high"}, "high": set()}, layers)
    assert up == ["low (layer 0) imports high (layer 2)"]
    sideways = layer_violations({"mid": {"mid.a"}, "mid.a": {"mid.b"}, "mid.b": {"mid.a"}}, layers)
    assert sideways == ["circle: mid.a -> mid.b -> mid.a"]
    assert layer_violations({"other": set()}, layers) == ["other has no layer"]


def test_the_walkers_see_real_imports() -> None:
    # A check that finds nothing proves nothing: both walkers must see the
    # imports that are there.
    rust = rust_graph()
    assert "format" in rust["seal"] and "primitives" in rust["seal.envelope"]
    python = python_graph()
    assert "_native" in python["_box"] and "_envelope" in python["_box"]
