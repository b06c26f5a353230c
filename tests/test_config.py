"""PdeflowConfig: loading, precedence, round trips and one-line errors."""

from __future__ import annotations

from typing import Literal

import pydantic
import pytest
from pydantic import Field

from pdeflow.config import PdeflowConfig
from pdeflow.errors import ConfigError


class SolverSettings(PdeflowConfig):
    method: Literal["gmres", "cg"] = "gmres"
    tol: float = Field(1e-8, gt=0)


class RunConfig(PdeflowConfig):
    """Example config used by these tests only."""

    name: str = "run"
    n_samples: int = Field(10, gt=0)
    seed: int | None = None
    tags: list[str] = []
    solver: SolverSettings = SolverSettings()


SAMPLE = RunConfig(
    name='demo "quoted" ✓',
    n_samples=5,
    seed=7,
    tags=["a", "b"],
    solver=SolverSettings(method="cg", tol=1e-12),
)


def assert_one_line(message: str) -> None:
    assert "\n" not in message and message.strip() == message and message


# ---------------------------------------------------------------- loading and round trips
@pytest.mark.parametrize("suffix", [".yaml", ".yml", ".toml", ".json"])
def test_round_trip(tmp_path, suffix):
    path = SAMPLE.to_file(tmp_path / f"run{suffix}")
    assert RunConfig.from_file(path) == SAMPLE


def test_yaml_file_written_by_hand(tmp_path):
    path = tmp_path / "run.yaml"
    path.write_text("n_samples: 3\nsolver:\n  method: cg\ntags: [x]\n")
    cfg = RunConfig.from_file(path)
    assert cfg == RunConfig(n_samples=3, tags=["x"], solver=SolverSettings(method="cg"))
    assert cfg.solver.tol == 1e-8  # nested default kept


def test_toml_file_written_by_hand(tmp_path):
    path = tmp_path / "run.toml"
    path.write_text('name = "t"\nn_samples = 4\n\n[solver]\ntol = 1e-6\n')
    cfg = RunConfig.from_file(path)
    assert (cfg.name, cfg.n_samples, cfg.solver.tol, cfg.solver.method) == ("t", 4, 1e-6, "gmres")


def test_empty_yaml_gives_defaults(tmp_path):
    path = tmp_path / "empty.yaml"
    path.write_text("")
    assert RunConfig.from_file(path) == RunConfig()


def test_precedence_defaults_file_overrides(tmp_path):
    path = tmp_path / "run.yaml"
    path.write_text("n_samples: 3\nname: from-file\nsolver: {method: cg, tol: 1.0e-4}\n")
    cfg = RunConfig.merge(file=path, overrides={"n_samples": 9, "name": None, "solver.tol": 1e-9})
    assert cfg.n_samples == 9  # override wins
    assert cfg.name == "from-file"  # None means "not given"
    assert cfg.solver == SolverSettings(method="cg", tol=1e-9)  # nested merge, not replace
    assert cfg.seed is None  # default


def test_frozen():
    with pytest.raises(pydantic.ValidationError, match="frozen"):
        SAMPLE.n_samples = 1  # type: ignore[misc]


# ---------------------------------------------------------------- errors
def test_bad_value_in_file_names_file_and_field(tmp_path):
    path = tmp_path / "run.yaml"
    path.write_text("n_samples: -3\n")
    with pytest.raises(ConfigError) as info:
        RunConfig.from_file(path)
    message = str(info.value)
    assert_one_line(message)
    assert message == (
        f"config file {path}: field 'n_samples': Input should be greater than 0 (got -3)"
    )


def test_bad_nested_value_names_dotted_field(tmp_path):
    path = tmp_path / "run.toml"
    path.write_text('[solver]\nmethod = "lu"\n')
    expected = r"field 'solver\.method': Input should be 'gmres' or 'cg'"
    with pytest.raises(ConfigError, match=expected):
        RunConfig.from_file(path)


def test_unknown_field_is_named(tmp_path):
    path = tmp_path / "run.yaml"
    path.write_text("n_sampels: 3\n")
    with pytest.raises(ConfigError) as info:
        RunConfig.from_file(path)
    assert_one_line(str(info.value))
    assert f"config file {path}: field 'n_sampels': unknown field" in str(info.value)


def test_bad_override_is_blamed_on_overrides(tmp_path):
    path = tmp_path / "run.yaml"
    path.write_text("n_samples: 3\n")
    with pytest.raises(ConfigError, match=r"^cli: field 'n_samples'"):
        RunConfig.merge(file=path, overrides={"n_samples": 0}, overrides_name="cli")


def test_several_errors_on_one_line(tmp_path):
    path = tmp_path / "run.yaml"
    path.write_text("n_samples: 0\nbogus: 1\n")
    with pytest.raises(ConfigError) as info:
        RunConfig.from_file(path)
    assert_one_line(str(info.value))
    assert "'n_samples'" in str(info.value) and "'bogus'" in str(info.value)


def test_direct_construction_raises_config_error():
    with pytest.raises(ConfigError, match=r"^RunConfig: field 'n_samples': .*greater than 0"):
        RunConfig(n_samples=0)


def test_missing_file(tmp_path):
    path = tmp_path / "absent.yaml"
    with pytest.raises(ConfigError, match="not found") as info:
        RunConfig.from_file(path)
    assert str(path) in str(info.value)


@pytest.mark.parametrize(
    ("name", "text", "expected"),
    [
        ("bad.yaml", "n_samples: [1,\n", "cannot be parsed"),
        ("bad.toml", "n_samples = = 3\n", "cannot be parsed"),
        ("bad.json", "{", "cannot be parsed"),
        ("list.yaml", "- 1\n- 2\n", "top level must be a mapping"),
        ("run.ini", "n_samples=3\n", "unknown format"),
    ],
)
def test_unreadable_files(tmp_path, name, text, expected):
    path = tmp_path / name
    path.write_text(text)
    with pytest.raises(ConfigError, match=expected) as info:
        RunConfig.from_file(path)
    assert_one_line(str(info.value))
    assert str(path) in str(info.value)


def test_toml_cannot_write_none(tmp_path):
    with pytest.raises(ConfigError, match="field 'seed': TOML has no null"):
        RunConfig(seed=None).to_file(tmp_path / "run.toml")


def test_config_error_is_a_pdeflow_error():
    from pdeflow.errors import PdeflowError

    assert issubclass(ConfigError, PdeflowError)
