"""The fingerprint cache: remembered by (path, size, mtime), and its SQLite connections closed as it goes."""

from __future__ import annotations

import gc
import os
import shutil
import sqlite3

from physflow.data_catalog.fingerprints import FingerprintCache
from physflow.data_catalog.keys import file_sha256


def _open_connections() -> int:
    return sum(isinstance(o, sqlite3.Connection) for o in gc.get_objects())


def test_fingerprints_are_remembered_and_their_connections_closed(tmp_path):
    video = tmp_path / "v.bin"
    video.write_bytes(b"frame" * 1000)
    gc.collect()
    before = _open_connections()
    gc.disable()  # a connection left open would now stay until a collection: counted below
    try:
        cache = FingerprintCache(tmp_path / "fp.sqlite")
        assert cache.many([video]) == [file_sha256(video)] and cache.hashed == 1
        again = FingerprintCache(tmp_path / "fp.sqlite")
        assert again.many([video]) == [file_sha256(video)] and again.hashed == 0  # remembered, not read
        st = os.stat(video)
        assert again.known(str(tmp_path), {"v.bin": (st.st_size, st.st_mtime_ns)}) == {"v.bin": file_sha256(video)}
        again.record("s3://bucket/v.bin", 5, 7, "ab" * 32)
        assert again.recall("s3://bucket/v.bin", 5, 7) == "ab" * 32
        # None left for the garbage collector, whose freeing one on Python 3.11 can deadlock a thread reading
        # other threads' frames (a Dask worker's profiler)
        assert _open_connections() == before
    finally:
        gc.enable()


def test_many_files_hash_in_order_those_remembered_unread(tmp_path):
    """New files hash on threads; each comes back in its place, beside the remembered ones, each its own bytes'."""
    files = []
    for i in range(12):
        path = tmp_path / f"v{i:02d}.bin"
        path.write_bytes(bytes([i]) * (3 << 20 if i % 3 == 0 else 1000 + i))  # large and small mixed
        files.append(path)
    cache = FingerprintCache(tmp_path / "fp.sqlite")
    assert cache.many(files[::2]) == [file_sha256(f) for f in files[::2]] and cache.hashed == 6
    assert cache.many(files) == [file_sha256(f) for f in files] and cache.hashed == 12  # only the other six read
    files[4].write_bytes(b"changed")
    again = FingerprintCache(tmp_path / "fp.sqlite")
    assert again.many(files) == [file_sha256(f) for f in files] and again.hashed == 1


def test_real_paths_resolve_as_pathlib_does(tmp_path, monkeypatch):
    """Links to folders and to files, relative links, `.` and `..`, doubled slashes, a trailing slash, missing files:
    each path comes out as `Path.resolve` gives it, though a folder's real path is looked up once."""
    from pathlib import Path

    from physflow.data_catalog.fingerprints import real_paths

    (tmp_path / "real" / "sub").mkdir(parents=True)
    for name in ("real/a.mp4", "real/sub/b.mp4"):
        (tmp_path / name).write_bytes(b"x")
    (tmp_path / "linkdir").symlink_to("real")
    (tmp_path / "linkfile.mp4").symlink_to(tmp_path / "real" / "a.mp4")
    (tmp_path / "real" / "rel.mp4").symlink_to("../real/sub/b.mp4")
    monkeypatch.chdir(tmp_path)
    paths = ["real/a.mp4", "linkdir/a.mp4", "linkfile.mp4", "real/rel.mp4", "./real//sub/b.mp4", "real/sub/../a.mp4",
             "linkdir/sub/b.mp4", f"{tmp_path}/linkdir/", "linkdir", "missing/x.mp4", "a.mp4", "real/./a.mp4",
             tmp_path / "linkdir" / "sub" / "b.mp4"]
    assert real_paths(paths) == [str(Path(p).resolve()) for p in paths]
    assert real_paths(paths)[1] == str(tmp_path.resolve() / "real" / "a.mp4")


def test_files_beside_the_cache_are_remembered_where_a_copy_finds_them(tmp_path):
    """Files in the cache's folder (a catalog's) are remembered relative to it: a copy of the folder with sizes and
    mtimes kept reads none of them again, while a file elsewhere stays remembered by its path. Paths remembered
    absolute (before) are still found in place."""
    home, outside = tmp_path / "catalog", tmp_path / "inputs"
    (home / "blobs" / "ab").mkdir(parents=True)
    outside.mkdir()
    mine = [home / "blobs" / "ab" / f"b{i}.bin" for i in range(3)]
    video = outside / "v.bin"
    for i, path in enumerate([*mine, video]):
        path.write_bytes(bytes([i]) * 1000)
    cache = FingerprintCache(home / "fp.sqlite")
    assert cache.many([*mine, video]) == [file_sha256(f) for f in [*mine, video]] and cache.hashed == 4
    with sqlite3.connect(home / "fp.sqlite") as con:
        keys = sorted(row[0] for row in con.execute("SELECT path FROM fingerprints"))
    con.close()
    assert keys == [f"./blobs/ab/b{i}.bin" for i in range(3)] + [str(video)]

    shutil.copytree(home, tmp_path / "copy")  # copy2: sizes and mtimes kept
    copy = FingerprintCache(tmp_path / "copy" / "fp.sqlite")
    copied = [tmp_path / "copy" / "blobs" / "ab" / f"b{i}.bin" for i in range(3)]
    assert copy.many([*copied, video]) == [file_sha256(f) for f in [*mine, video]] and copy.hashed == 0
    st = {f"b{i}.bin": (os.stat(p).st_size, os.stat(p).st_mtime_ns) for i, p in enumerate(copied)}
    assert copy.known(str(tmp_path / "copy" / "blobs" / "ab"), st) == {
        f"b{i}.bin": file_sha256(p) for i, p in enumerate(copied)}

    with sqlite3.connect(home / "fp.sqlite") as con:  # as an earlier version remembered them: absolute
        con.execute("UPDATE fingerprints SET path = ? || substr(path, 3) WHERE path LIKE './%'", [f"{home}/"])
    con.close()
    before = FingerprintCache(home / "fp.sqlite")
    st = {f"b{i}.bin": (os.stat(p).st_size, os.stat(p).st_mtime_ns) for i, p in enumerate(mine)}
    assert before.known(str(home / "blobs" / "ab"), {"b0.bin": st["b0.bin"]}) == {"b0.bin": file_sha256(mine[0])}
    assert before.many(mine[1:]) == [file_sha256(f) for f in mine[1:]] and before.hashed == 0
    shutil.copytree(home, tmp_path / "again")  # each one found was remembered relative again: a copy finds it
    again = FingerprintCache(tmp_path / "again" / "fp.sqlite")
    assert again.many([tmp_path / "again" / "blobs" / "ab" / f"b{i}.bin" for i in range(3)]) == [
        file_sha256(f) for f in mine] and again.hashed == 0


def test_a_file_that_changes_while_read_is_not_remembered(tmp_path, monkeypatch):
    """A file whose size moves while it is hashed is noted in `moving` and not remembered: its sha256 is of bytes
    that were never the whole file. A file left alone is remembered as before."""
    from physflow.data_catalog import fingerprints

    growing, still = tmp_path / "growing.bin", tmp_path / "still.bin"
    growing.write_bytes(b"a" * 100_000)
    still.write_bytes(b"b" * 100_000)
    hash_files = fingerprints.hash_files

    def hash_while_growing(paths):  # the writer appends while the reader reads
        out = hash_files(paths)
        with open(growing, "ab") as fh:
            fh.write(b"more")
        return out

    monkeypatch.setattr(fingerprints, "hash_files", hash_while_growing)
    cache = FingerprintCache(tmp_path / "fp.sqlite")
    cache.many([growing, still])
    assert cache.moving == {str(growing)}
    monkeypatch.setattr(fingerprints, "hash_files", hash_files)
    again = FingerprintCache(tmp_path / "fp.sqlite")
    assert again.many([growing, still]) == [file_sha256(growing), file_sha256(still)]
    assert again.hashed == 1 and not again.moving  # only the file that had moved is read again
