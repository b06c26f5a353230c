"""The demo (#28 item 17) times the strong peer and `auto`, not only GMRES(40), and says so.

It is the command ``pdeflow demo`` (#22 item 4); ``make demo`` still runs it through the
deprecated ``python -m pdeflow.datagen.demo``."""

from __future__ import annotations

import argparse
import re
import subprocess
import sys

from pdeflow.demo import Timing, format_timings


def test_demo_prints_gmres_skr_strong_peer_and_auto(tmp_path):
    out = tmp_path / "d.h5"
    r = subprocess.run(
        [sys.executable, "-m", "pdeflow.datagen.demo", "--n", "24", "--resolution", "12",
         "--workers", "1", "--train-seconds", "0", "--out", str(out)],
        capture_output=True, text=True, timeout=600,
    )
    assert r.returncode == 0, r.stderr
    assert "deprecated; run `pdeflow demo`" in r.stderr
    text = r.stdout
    rows = {}
    for label in ("GMRES(40), the paper's baseline", "SKR (sorted, GCRO-DR(40, 20))",
                  "scipy splu per sample, the strong peer", "auto, pdeflow's default"):
        line = next(ln for ln in text.splitlines() if ln.strip().startswith(label))
        rows[label] = float(re.search(r"([\d.]+) s", line[len(label) + 2:]).group(1))
        assert rows[label] > 0
    assert re.search(r"auto, pdeflow's default \(picked \w", text)
    headline = " ".join(text.split("headline:")[1].split("check:")[0].split())
    assert "the strong peer (scipy splu) end to end" in headline
    match = re.search(r"the peer's solutions match SKR's to ([\d.e+-]+)", text)
    assert match and float(match.group(1)) < 1e-5  # the peer did the same work
    assert "verify: ok (24/24 samples)" in text
    assert sorted(p.name for p in tmp_path.iterdir()) == ["d.h5"]  # the other files are gone


def test_headline_reads_the_numbers_both_ways():
    args = argparse.Namespace(n=8, resolution=16, workers=2)
    rows = [Timing("gmres", 4.0, 3.0, 100.0), Timing("skr", 2.0, 1.0, 20.0),
            Timing("peer", 1.0, 0.5, None), Timing("auto", 0.5, 0.1, 0.0)]
    text = " ".join(format_timings(rows, args).split())
    assert ("('auto') is 2.00x faster than the strong peer (scipy splu) end to end; SKR is "
            "2.00x faster than GMRES(40) (100 -> 20 iterations/sample) and 2.00x slower than "
            "the strong peer.") in text


def test_datagen_demo_shim_imports_neither_the_demo_nor_operators():
    code = ("import sys, pdeflow.datagen.demo; "
            "print(sorted(m for m in sys.modules if m in ('pdeflow.demo', 'pdeflow.cli') "
            "or m.startswith('pdeflow.operators')))")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and r.stdout.strip() == "[]", r.stdout + r.stderr
