"""Reaching a family by name (issue #20, item 3): ``--family file.py:obj`` and
``package.module:obj`` specs, the ``pdeflow.families`` entry-point group, the lazy registry,
``register(..., replace=False)``, and a one-line ConfigError for every bad spec."""

from __future__ import annotations

import json
import os
import pickle
import shlex
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import h5py
import numpy as np
import pytest

from pdeflow.cli import main
from pdeflow.datagen import families, verify
from pdeflow.errors import ConfigError

BIN = Path(sys.executable).parent
PDEFLOW = str(BIN / "pdeflow")

# a tiny pointwise family in the shape of the built-ins: u(1) = u0 exp(-k); ``delay`` slows
# each sample down so that a run can be interrupted part way
FAMILY_CODE = '''
import time
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
from pdeflow.datagen import FieldSpec, families


@dataclass(frozen=True)
class Decay(families.PointwiseFamily):
    """u' = -k u from a random u0; stores u(1).

    Options
    -------
    resolution : int
        Points.
    k : float
        Decay rate.
    delay : float
        Seconds of sleep per sample.
    """

    resolution: int = 32
    seed: int = 0
    k: float = 1.0
    delay: float = 0.0
    name: ClassVar[str] = "{name}"

    def fields(self):
        s = (self.resolution,)
        return {{"u0": FieldSpec("u0", s, "input", ("x",), "initial value"),
                 "u": FieldSpec("u", s, "output", ("x",), "value at t = 1")}}

    def coords(self):
        return {{"x": np.linspace(0.0, 1.0, self.resolution)}}

    def sample(self, i):
        return {{"u0": self.rng(i).random(self.resolution)}}

    def solve_one(self, sample):
        time.sleep(self.delay)
        return {{"u": sample["u0"] * np.exp(-self.k)}}, {{"iterations": 1}}


fast = Decay(k=3.0, resolution=16)
not_a_family = 42
'''


def _write_family(folder: Path, name: str = "decay", file: str = "my_pde.py") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / file
    path.write_text(FAMILY_CODE.format(name=name))
    return path


@pytest.fixture(autouse=True)
def _clean_registry(monkeypatch):
    """Each test sees (and leaves) the registry as it was (built-ins imported first)."""
    for name in families._MODULES:
        families.family_class(name)
    monkeypatch.setattr(families, "_REGISTRY", dict(families._REGISTRY))
    for name, empty in (("_SOURCES", {}), ("_REPLACED", set())):
        value = getattr(families, name, empty)
        monkeypatch.setattr(families, name, type(value)(value), raising=False)
    monkeypatch.setattr(families, "_EPS", None, raising=False)
    yield


def _env(**extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update({"PDEFLOW_PROGRESS": "plain", "OMP_NUM_THREADS": "1",
                "PDEFLOW_LOG_LEVEL": "INFO", **extra})
    return env


def _default_signals() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)


def _done(path: Path) -> int:
    try:
        with h5py.File(path, "r", locking=False) as f:
            return int(f["done"][...].sum()) if "done" in f else 0
    except (OSError, KeyError):
        return 0


def _assert_values(path: Path, k: float) -> None:
    with h5py.File(path, "r") as f:
        u0, u = f["fields"]["u0"][...], f["fields"]["u"][...]
    assert u.shape == u0.shape and np.all(np.isfinite(u))
    np.testing.assert_allclose(u, (u0.astype(np.float64) * np.exp(-k)).astype(u.dtype),
                               rtol=1e-6)


def _flip_32_bytes(path: Path, field: str, sample: int) -> None:
    with h5py.File(path, "r") as f:
        ds = f["fields"][field]
        chunk = ds.id.get_chunk_info_by_coord((sample,) + (0,) * (ds.ndim - 1))
    offset = chunk.byte_offset + chunk.size // 2 - 16
    with open(path, "r+b") as fh:
        fh.seek(offset)
        data = fh.read(32)
        fh.seek(offset)
        fh.write(bytes(b ^ 0xFF for b in data))


# ------------------------------------------------------------------ file.py:obj, end to end
def test_file_spec_generates_on_two_processes_resumes_after_sigint_and_repairs(tmp_path):
    _write_family(tmp_path / "code")
    n, out = 12, tmp_path / "d.h5"
    args = [PDEFLOW, "generate", "--family", "code/my_pde.py:Decay", "--n", str(n),
            "--executor", "processes", "--workers", "2", "--chunk-size", "1",
            "--compression", "none", "-o", "k=2.0", "-o", "delay=0.3", "--out", str(out)]
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=_env(), cwd=tmp_path, preexec_fn=_default_signals)
    try:
        deadline = time.monotonic() + 120
        while _done(out) < 2:
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline
            time.sleep(0.05)
        os.kill(proc.pid, signal.SIGINT)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, err
    assert 2 <= _done(out) < n, err
    with h5py.File(out, "r") as f:
        config = json.loads(f.attrs["config"])
        assert f.attrs["family"] == "decay"
    # the spec is stored with an absolute path: resume and repair work from anywhere
    spec = f"{tmp_path / 'code' / 'my_pde.py'}:Decay"
    assert config["family"] == spec
    line = next(ln for ln in err.splitlines() if "complete it with: " in ln)
    command = shlex.split(line.split("complete it with: ")[1])
    assert command[2] == spec and command[-1] == "--resume"
    r = subprocess.run([PDEFLOW, *command[1:]], capture_output=True, text=True, env=_env(),
                       cwd="/", timeout=120)
    assert r.returncode == 0, r.stderr
    assert verify(out).ok
    _assert_values(out, 2.0)

    # damage one sample; `pdeflow dataset repair`, run elsewhere, solves it again
    with h5py.File(out, "r") as f:
        clean = f["fields"]["u"][...]
    _flip_32_bytes(out, "u", 5)
    assert verify(out).damaged == [5]
    r = subprocess.run([PDEFLOW, "dataset", "repair", str(out)], capture_output=True,
                       text=True, env=_env(), cwd="/", timeout=120)
    assert r.returncode == 0, r.stderr
    assert verify(out).ok
    with h5py.File(out, "r") as f:
        np.testing.assert_array_equal(f["fields"]["u"][...], clean)


def test_file_spec_as_the_positional_family_and_an_instance_spec(tmp_path, monkeypatch, capsys):
    _write_family(tmp_path)
    monkeypatch.chdir(tmp_path)
    assert main(["generate", "my_pde.py:Decay", "--n", "4", "--workers", "1",
                 "--executor", "processes", "-o", "k=0.5", "--out", "a.h5"]) == 0
    _assert_values(tmp_path / "a.h5", 0.5)
    # an instance: its values are the defaults, options replace them
    assert main(["generate", "--family", "my_pde.py:fast", "--n", "3", "--workers", "1",
                 "--executor", "processes", "--out", "b.h5"]) == 0
    _assert_values(tmp_path / "b.h5", 3.0)
    with h5py.File(tmp_path / "b.h5", "r") as f:
        assert f["fields"]["u"].shape == (3, 16)
    fam = families.get("my_pde.py:fast", k=1.5)
    assert (fam.k, fam.resolution) == (1.5, 16)
    # argument and --family that disagree
    capsys.readouterr()
    assert main(["generate", "heat", "--family", "my_pde.py:Decay", "--n", "2",
                 "--out", "c.h5"]) == 2
    assert "Two families given" in capsys.readouterr().err


def test_file_family_pickles_into_a_fresh_interpreter(tmp_path):
    """A spawned worker (no fork) imports the file again by its module name."""
    path = _write_family(tmp_path)
    fam = families.get(f"{path}:Decay", k=0.25)
    blob = pickle.dumps(fam)
    code = ("import pickle, sys; import pdeflow.datagen.pipeline; "
            "f = pickle.loads(sys.stdin.buffer.read()); "
            "print(type(f).__name__, f.k, f.solve([0]).fields['u'].shape)")
    r = subprocess.run([sys.executable, "-c", code], input=blob, capture_output=True,
                       cwd="/", timeout=60)
    assert r.returncode == 0, r.stderr.decode()
    assert r.stdout.decode().split() == ["Decay", "0.25", "(1,", "32)"]


# ------------------------------------------------------------------ package.module:obj
def test_module_spec_through_pythonpath(tmp_path, monkeypatch):
    pkg = tmp_path / "site" / "userfams"
    _write_family(pkg, name="mod-decay", file="decay.py")
    (pkg / "__init__.py").write_text("")
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    out = tmp_path / "m.h5"
    r = subprocess.run(
        [PDEFLOW, "generate", "--family", "userfams.decay:Decay", "--n", "4",
         "--executor", "processes", "--workers", "2", "--out", str(out)],
        capture_output=True, text=True, cwd=tmp_path, timeout=120,
        env=_env(PYTHONPATH=str(tmp_path / "site")),
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert verify(out).ok
    _assert_values(out, 1.0)
    assert families.get("userfams.decay:Decay").name == "mod-decay"
    assert families.source("mod-decay") == "module userfams.decay"


# ------------------------------------------------------------------ entry points
def _fake_distribution(root: Path) -> Path:
    site = root / "site"
    _write_family(site, name="ep-decay", file="epfam.py")
    info = site / "epfam-1.2.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: epfam\nVersion: 1.2\n")
    (info / "entry_points.txt").write_text("[pdeflow.families]\nep-decay = epfam:Decay\n")
    return site


def test_entry_point_family_loads_lazily_and_lists_its_source(tmp_path, monkeypatch, capsys):
    site = _fake_distribution(tmp_path)
    monkeypatch.syspath_prepend(str(site))
    sys.modules.pop("epfam", None)
    assert "ep-decay" in families.names()
    assert "epfam" not in sys.modules  # listed, not imported
    assert families.get("ep-decay", k=2.0).k == 2.0
    assert "epfam" in sys.modules
    assert families.source("ep-decay") == "entry point epfam 1.2"
    assert main(["families", "ep-decay"]) == 0
    text = capsys.readouterr().out
    assert text.startswith("ep-decay: u' = -k u") and "  source: entry point epfam 1.2" in text
    assert main(["families", "--json"]) == 0
    listed = {d["name"]: d["source"] for d in json.loads(capsys.readouterr().out)}
    assert listed["ep-decay"] == "entry point epfam 1.2" and listed["darcy"] == "built-in"
    # and through the CLI in another process, by name only
    out = tmp_path / "e.h5"
    r = subprocess.run([PDEFLOW, "generate", "ep-decay", "--n", "3", "--workers", "1",
                        "--executor", "processes", "--out", str(out)],
                       capture_output=True, text=True, timeout=120,
                       env=_env(PYTHONPATH=str(site)))
    assert r.returncode == 0, r.stderr
    _assert_values(out, 1.0)


def test_entry_points_that_clash_or_misname_say_so(tmp_path, monkeypatch):
    site = tmp_path / "site"
    _write_family(site, name="other-name", file="badfam.py")
    info = site / "badfam-0.1.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: badfam\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(
        "[pdeflow.families]\ndarcy = badfam:Decay\nmisnamed = badfam:Decay\n"
    )
    monkeypatch.syspath_prepend(str(site))
    with pytest.warns(UserWarning, match="Entry point 'darcy' of badfam 0.1 .* clashes with "
                                         "the built-in family 'darcy'; it is ignored"):
        assert "misnamed" in families.names()
    assert families.source("darcy") == "built-in"
    with pytest.raises(ConfigError, match="Family 'misnamed' from entry point badfam 0.1: "
                                          "badfam:Decay is named 'other-name'"):
        families.get("misnamed")


def test_families_listing_names_file_and_builtin_sources(tmp_path, capsys):
    path = _write_family(tmp_path)
    assert main(["families", f"{path}:Decay", "heat"]) == 0
    text = capsys.readouterr().out
    assert f"decay: u' = -k u from a random u0; stores u(1).\n  source: file {path}\n" in text
    assert "heat: " in text and "  source: built-in\n" in text
    assert main(["families", f"{path}:fast"]) == 0
    text = capsys.readouterr().out
    assert "k           default 3.0  (float)" in text  # the instance's values


def test_registry_is_lazy():
    code = ("import sys; from pdeflow.datagen import families; n = families.names(); "
            "print(len(n), sorted(m for m in sys.modules "
            "if m.startswith('pdeflow.datagen.families.') and m != "
            "'pdeflow.datagen.families._base'))")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                       timeout=60)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["11", "[]"]


# ------------------------------------------------------------------ register
def _subclass(name: str, module: str = "user_code") -> type:
    base = families.family_class("heat")
    return type("Mine", (base,), {"__module__": module, "name": name})


def test_register_refuses_a_clash_unless_replace():
    mine = _subclass("heat")
    with pytest.raises(ConfigError) as e:
        families.register(mine)
    msg = str(e.value)
    assert "\n" not in msg
    assert "module user_code" in msg and "built-in (pdeflow.datagen.families.heat)" in msg
    assert families.family_class("heat") is not mine
    assert families.register(replace=True)(mine) is mine
    assert families.family_class("heat") is mine
    assert families.source("heat") == "module user_code"
    # a new name: plain decorator; a second class of that name from elsewhere clashes
    other = families.register(_subclass("my-heat"))
    assert families.get("my-heat").name == "my-heat" and type(families.get("my-heat")) is other
    with pytest.raises(ConfigError, match="'my-heat' from module elsewhere clashes with "
                                          "family 'my-heat' from module user_code"):
        families.register(_subclass("my-heat", "elsewhere"))
    families.register(_subclass("my-heat"))  # the same class redefined in place: no clash


def test_register_replace_before_the_builtin_module_is_imported():
    code = textwrap.dedent("""
        from pdeflow.datagen import families
        base = families.PointwiseFamily
        Mine = type("Mine", (families.family_class("heat"),), {"name": "darcy"})
        families.register(Mine, replace=True)
        families.family_class("darcy-fno")  # imports the darcy module, which registers Darcy
        print(families.family_class("darcy") is Mine)
    """)
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                       timeout=60)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["True"]


def test_file_family_clashing_with_another_names_both_files(tmp_path):
    a = _write_family(tmp_path / "a")
    b = _write_family(tmp_path / "b")
    families.get(f"{a}:Decay")
    with pytest.raises(ConfigError) as e:
        families.get(f"{b}:Decay")
    assert str(e.value) == (
        f"Family 'decay' from file {b} clashes with family 'decay' from file {a}; "
        "pass replace=True to register(...) to replace it."
    )
    c = _write_family(tmp_path / "c", name="heat")
    with pytest.raises(ConfigError, match=rf"'heat' from file {c} clashes with family 'heat' "
                                          r"from built-in \(pdeflow.datagen.families.heat\)"):
        families.get(f"{c}:Decay")


# ------------------------------------------------------------------ bad specs: one line each
def test_bad_specs_give_one_line_errors(tmp_path, monkeypatch, capsys):
    path = _write_family(tmp_path)
    (tmp_path / "broken_mod.py").write_text("import no_such_dependency_xyz\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    sys.modules.pop("broken_mod", None)
    cases = {
        f"{tmp_path}/missing.py:Decay": f"file {tmp_path}/missing.py does not exist",
        "no_such_package_xyz.mod:Decay":
            "cannot import module no_such_package_xyz.mod: No module named "
            "'no_such_package_xyz'",
        "broken_mod:Decay":
            "cannot import module broken_mod: No module named 'no_such_dependency_xyz'",
        f"{path}:Nope": f"file {path} has no attribute 'Nope'",
        "json:Nope": "module json has no attribute 'Nope'",
        f"{path}:not_a_family": f"'not_a_family' in file {path} is a int, not a Family",
        "json:dumps": "'dumps' in module json is a function, not a Family",
        f"{path}:": "expected path/to/file.py:NAME or package.module:NAME",
    }
    for spec, want in cases.items():
        with pytest.raises(ConfigError) as e:
            families.get(spec)
        assert want in str(e.value) and "\n" not in str(e.value), (spec, str(e.value))
        assert main(["generate", "--family", spec, "--n", "2",
                     "--out", str(tmp_path / "x.h5")]) == 2
        err = capsys.readouterr().err.strip()
        assert want in err and len(err.splitlines()) == 1, (spec, err)
    assert not (tmp_path / "x.h5").exists()
