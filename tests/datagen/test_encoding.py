"""Fields compressed on a worker (encode_chunk) and stored as they are by the writer."""

from __future__ import annotations

import h5py
import numpy as np
import pytest

from pdeflow.datagen import families
from pdeflow.datagen.storage import DatasetWriter, encode_chunk, verify
from pdeflow.errors import ConfigError, DataError


@pytest.mark.parametrize("compression", ["gzip", "lzf", None])
def test_encoded_chunks_round_trip_and_verify(tmp_path, compression):
    fam = families.get("darcy", resolution=12)
    chunks = [fam.solve([2, 0, 1]), fam.solve([5, 3, 4])]
    expected = {name: np.concatenate([c.fields[name] for c in chunks]) for name in ("a", "u")}
    order = np.array([2, 0, 1, 5, 3, 4])
    path = tmp_path / "enc.h5"
    with DatasetWriter.create(path, fam, 6, config={}, seed=0, compression=compression) as w:
        assert w.encoding == ("float32", compression)
        for c in chunks:
            encode_chunk(c, "float32", compression)
            assert c.fields == {} and set(c.encoded) == {"a", "u"}
            assert w.write(c) == 3
        w.finish()
    rep = verify(path)
    assert rep.ok and rep.n_done == 6, rep.problems
    with h5py.File(path, "r") as f:
        assert f["fields/u"].compression == compression
        for name in ("a", "u"):
            np.testing.assert_array_equal(
                f[f"fields/{name}"][:][order], expected[name].astype(np.float32)
            )


def test_lzf_chunks_that_do_not_shrink_are_stored_raw(tmp_path):
    """White noise does not compress: the worker marks the filter skipped, as HDF5 does."""
    fam = families.get("darcy", resolution=16)
    c = fam.solve([0, 1])
    noise = np.random.default_rng(0).standard_normal((2, 16, 16))
    c.fields["u"] = noise
    c.fields["a"] = np.ones((2, 16, 16))  # compresses
    encode_chunk(c, "float32", "lzf")
    assert c.filter_masks["u"] == [1, 1] and c.filter_masks["a"] == [0, 0]
    assert len(c.encoded["u"][0]) == 16 * 16 * 4  # raw bytes
    path = tmp_path / "lzf.h5"
    with DatasetWriter.create(path, fam, 2, config={}, seed=0, compression="lzf") as w:
        w.write(c)
        w.finish()
    assert verify(path).ok
    with h5py.File(path, "r") as f:
        np.testing.assert_array_equal(f["fields/u"][:], noise.astype(np.float32))
        np.testing.assert_array_equal(f["fields/a"][:], 1.0)


def test_encoding_mismatch_and_unknown_compression_are_refused(tmp_path):
    fam = families.get("darcy", resolution=8)
    c = fam.solve([0])
    with pytest.raises(ConfigError, match="szip"):
        encode_chunk(c, "float32", "szip")
    encode_chunk(c, "float64", "gzip")
    with DatasetWriter.create(tmp_path / "x.h5", fam, 2, config={}, seed=0) as w:
        with pytest.raises(DataError, match="encoded for"):
            w.write(c)
        assert w.done_count() == 0


def test_a_corrupted_encoded_sample_fails_its_checksum(tmp_path):
    """The CRC is taken on the worker before compression: verify checks end to end."""
    fam = families.get("darcy", resolution=8)
    c = encode_chunk(fam.solve([0, 1]), "float32", None)
    good = c.encoded["u"][1]
    bad = bytearray(good)
    bad[8] ^= 0x01  # one bit of one value (still finite)
    c.encoded["u"][1] = bytes(bad)
    path = tmp_path / "bad.h5"
    with DatasetWriter.create(path, fam, 2, config={}, seed=0, compression=None) as w:
        w.write(c)
        w.finish()
    rep = verify(path)
    assert not rep.ok and any("checksum" in p and "1" in p for p in rep.problems), rep.problems
