"""The CI floors of the benchmarks (benches/ratios.py --check), over synthetic results.

No timing here: each test writes a pytest-benchmark JSON file with chosen
per-round times and checks what ``ratios.py --check`` makes of it.
"""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

BENCHES = Path(__file__).resolve().parent.parent / "benches"


def _load(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"sealbox_benches_{name}", BENCHES / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


ratios = _load("ratios")
FLOORS: list[Any] = ratios.FLOORS


# Round times in seconds; exact binary fractions, so a ratio set at a floor is exactly the floor.
ROUNDS = (1.0, 1.25, 0.75)


def _bench(group: str, impl: str, role: str, times: list[float], bench_pass: int) -> dict[str, Any]:
    extra = {"group": group, "impl": impl, "role": role, "size": 64, "rows": 1, "bench_pass": bench_pass}
    return {"extra_info": extra, "stats": {"data": times}}


def _results(
    tmp_path: Path,
    speedups: dict[tuple[str, str], float],
    same_format: float | None = None,
    passes: int = 3,
) -> str:
    """A results file where each floored pair has the given speedup in every pass."""
    benches = []
    for p in range(passes):
        for (group, anchor), speedup in speedups.items():
            benches.append(_bench(group, "sealbox row", "sealbox", list(ROUNDS), p))
            benches.append(_bench(group, anchor, "anchor", [t * speedup for t in ROUNDS], p))
            if same_format is not None:
                times = [t * same_format for t in ROUNDS]
                benches.append(_bench(group, "same format loop", "same-format", times, p))
    path = tmp_path / "results.json"
    path.write_text(json.dumps({"benchmarks": benches, "sealbox_bench": {"mode": {"name": "short"}}}))
    return str(path)


def _at(factor: float) -> dict[tuple[str, str], float]:
    """Every floored pair at ``factor`` times its floor."""
    return {(f.group, f.anchor): f.floor * factor for f in FLOORS}


def test_every_ratio_above_its_floor_passes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert ratios.main(["--check", _results(tmp_path, _at(1.5))]) == 0
    out = capsys.readouterr().out
    assert f"{len(FLOORS)} of {len(FLOORS)} at or above their floor" in out
    assert "FAIL" not in out


def test_a_ratio_exactly_at_its_floor_passes(tmp_path: Path) -> None:
    assert ratios.main(["--check", _results(tmp_path, _at(1.0))]) == 0


@pytest.mark.parametrize("floor", FLOORS, ids=[f"{f.target_id}: {f.group}" for f in FLOORS])
def test_one_ratio_below_its_floor_fails(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], floor: Any
) -> None:
    speedups = _at(2.0)
    speedups[floor.group, floor.anchor] = floor.floor * 0.9
    assert ratios.main(["--check", _results(tmp_path, speedups)]) == 1
    err = capsys.readouterr().err
    assert "1 floor(s) failed" in err
    measured = f"measured {floor.floor * 0.9:.2f}\N{MULTIPLICATION SIGN}"
    assert f"{floor.target_id} {floor.group}, vs {floor.anchor}: {measured}" in err
    assert f"floor {floor.floor:g}\N{MULTIPLICATION SIGN}: BELOW FLOOR" in err


def test_without_check_a_low_ratio_is_reported_not_failed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert ratios.main([_results(tmp_path, _at(0.5))]) == 0
    assert "BELOW FLOOR" in capsys.readouterr().out


def test_the_median_over_passes_is_checked(tmp_path: Path) -> None:
    # One slow pass (a busy neighbour) does not fail a floor the other passes meet ...
    f = FLOORS[0]
    per_pass = [f.floor * 0.5, f.floor * 1.2, f.floor * 1.3]
    benches = []
    for p, speedup in enumerate(per_pass):
        benches.append(_bench(f.group, "sealbox row", "sealbox", [1.0], p))
        benches.append(_bench(f.group, f.anchor, "anchor", [speedup], p))
    meas = ratios.pairs(*ratios.load(_write(tmp_path, benches))[1:])
    [result] = ratios.check_floors(meas, [], [f])
    assert result.ok and result.ratio == pytest.approx(f.floor * 1.2)
    # ... and two do.
    benches[3]["stats"]["data"] = [f.floor * 0.8]
    meas = ratios.pairs(*ratios.load(_write(tmp_path, benches))[1:])
    [result] = ratios.check_floors(meas, [], [f])
    assert not result.ok and result.ratio == pytest.approx(f.floor * 0.8)


def _write(tmp_path: Path, benches: list[dict[str, Any]]) -> str:
    path = tmp_path / "r.json"
    path.write_text(json.dumps({"benchmarks": benches}))
    return str(path)


def test_the_same_format_loop_does_not_stand_in_for_the_users_loop(tmp_path: Path) -> None:
    # Below the floor against the user's loop, far above it against the same-format loop.
    assert ratios.main(["--check", _results(tmp_path, _at(0.9), same_format=50.0)]) == 1


def test_a_floored_pair_missing_from_the_run_fails(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    speedups = _at(2.0)
    missing = FLOORS[-1]
    del speedups[missing.group, missing.anchor]
    assert ratios.main(["--check", _results(tmp_path, speedups)]) == 1
    assert f"{missing.group}, vs {missing.anchor}: not measured" in capsys.readouterr().err


def test_the_floors() -> None:
    floors = {(f.target_id, f.group): f.floor for f in FLOORS}
    assert len(floors) == len(FLOORS) == 10
    for (target, group), floor in floors.items():
        if target == "T1":
            assert floor == 1.0
        elif target == "T5":
            assert floor == 0.5
        elif group == "encrypt_batch, 64 B rows, lists":  # against the one-key AESGCM loop
            assert floor == 1.5
        else:  # every other batch ratio
            assert target in ("T2", "T3", "T4", "T6") and floor == 3.0, (target, group)
    assert all(f.anchor.startswith("user loop") for f in FLOORS if f.target_id in ("T2", "T3", "T4", "T6"))


def test_every_floor_names_a_row_of_the_benchmarks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(BENCHES))
    rows = set()
    for name in ("test_single_value", "test_batch", "test_blind"):
        module = _load(name)
        rows |= {(c.group, c.impl, c.role) for c in module.CASES}
    for name in ("_cases", "_user_loops"):
        sys.modules.pop(name, None)
    for f in FLOORS:
        assert (f.group, f.anchor, "anchor") in rows, f
        assert any(g == f.group and role == "sealbox" for g, _, role in rows), f
