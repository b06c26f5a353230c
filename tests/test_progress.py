"""progress(): rich on a terminal, plain lines otherwise, nothing when off; get_logger()."""

from __future__ import annotations

import io
import logging

import pytest

from pdeflow.errors import ConfigError
from pdeflow.progress import ENV_PROGRESS, get_logger, progress, progress_mode


class FakeTTY(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.fixture(autouse=True)
def _no_env(monkeypatch):
    monkeypatch.delenv(ENV_PROGRESS, raising=False)


def test_mode_follows_the_stream():
    assert progress_mode(FakeTTY()) == "rich"
    assert progress_mode(io.StringIO()) == "plain"


@pytest.mark.parametrize("value", ["plain", "rich", "off", " OFF "])
def test_mode_env_override(monkeypatch, value):
    monkeypatch.setenv(ENV_PROGRESS, value)
    assert progress_mode(FakeTTY()) == value.strip().lower()
    assert progress_mode(io.StringIO()) == value.strip().lower()


def test_bad_env_value_is_a_config_error(monkeypatch):
    monkeypatch.setenv(ENV_PROGRESS, "fancy")
    with pytest.raises(ConfigError, match="PDEFLOW_PROGRESS='fancy'.*rich, plain, off"):
        progress_mode(io.StringIO())


def test_plain_mode_writes_a_few_lines_not_one_per_step():
    out = io.StringIO()
    with progress("solving", total=100, stream=out) as bar:  # not a TTY -> plain
        assert bar.mode == "plain"
        for _ in range(100):
            bar.advance()
    lines = out.getvalue().splitlines()
    assert "solving: started (0/100)" in lines[0]
    assert [ln.split("solving: ")[1].split(" ")[0] for ln in lines[1:-1]] == [
        f"{k}/100" for k in range(10, 100, 10)
    ]
    assert "solving: done 100/100 in" in lines[-1]
    assert bar.completed == 100


def test_plain_mode_unknown_total_reports_by_time():
    out = io.StringIO()
    with progress("sampling", stream=out, mode="plain", interval=0.0) as bar:
        bar.advance(3)
        bar.advance(2)
    lines = out.getvalue().splitlines()
    assert "sampling: started (0/?)" in lines[0]
    assert "sampling: 3 done" in lines[1] and "sampling: 5 done" in lines[2]
    assert "sampling: done 5 in" in lines[-1]


def test_failure_is_reported_and_propagates():
    out = io.StringIO()
    with pytest.raises(RuntimeError, match="boom"):
        with progress("solving", total=4, stream=out, mode="plain") as bar:
            bar.advance()
            raise RuntimeError("boom")
    assert "solving: stopped 1/4" in out.getvalue().splitlines()[-1]


def test_off_mode_is_silent(monkeypatch):
    monkeypatch.setenv(ENV_PROGRESS, "off")
    out = FakeTTY()
    with progress("solving", total=5, stream=out) as bar:
        bar.advance(5)
    assert out.getvalue() == ""
    assert bar.completed == 5


def test_rich_mode_renders_the_description():
    out = FakeTTY()
    with progress("meshing", total=3, stream=out) as bar:
        assert bar.mode == "rich"
        bar.advance(2)
        bar.update(3)
    assert "meshing" in out.getvalue()
    assert bar.completed == 3


def own_handlers(logger: logging.Logger) -> list[logging.Handler]:
    """Handlers other than pytest's (pytest attaches its own to non-propagating loggers)."""
    return [h for h in logger.handlers if not type(h).__module__.startswith("_pytest")]


@pytest.fixture
def fresh_logging(monkeypatch):
    root = logging.getLogger("pdeflow")
    saved = root.handlers[:]
    root.handlers.clear()
    monkeypatch.setattr(root, "_pdeflow_configured", False, raising=False)
    monkeypatch.setenv(ENV_PROGRESS, "plain")  # plain format even when run with -s in a terminal
    yield root
    root.handlers[:] = saved


def test_get_logger_namespaces_and_configures_once(fresh_logging, capsys):
    a = get_logger("pdeflow.tests")
    b = get_logger("benchmarks.x")
    assert a.name == "pdeflow.tests"
    assert b.name == "pdeflow.benchmarks.x"
    root = fresh_logging
    assert len(own_handlers(root)) == 1
    get_logger("pdeflow.tests")
    assert len(own_handlers(root)) == 1
    a.info("hello %d", 42)
    err = capsys.readouterr().err
    # plain "time LEVEL name: message" lines
    assert err.rstrip().endswith("INFO pdeflow.tests: hello 42")
