"""The commit file listing we keep beside the HF cache reads what `hf` writes and writes what it reads."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.hub.tree_listing import ListedFile, listing_path, read_listing, write_listing

COMMIT = "a" * 40
FILES = [
    ListedFile("config.json", 519, None, "b" * 40),
    ListedFile("model.safetensors", 1234, "c" * 64, "d" * 40),
]


def test_a_listing_round_trips(tmp_path: Path):
    write_listing(tmp_path, COMMIT, FILES)
    assert read_listing(tmp_path, COMMIT) == {f.name: f for f in FILES}
    assert [p.name for p in listing_path(tmp_path, COMMIT).parent.iterdir()] == [f"{COMMIT}.json"]


def test_missing_damaged_or_unknown_format_listings_are_ignored(tmp_path: Path):
    assert read_listing(tmp_path, COMMIT) is None
    path = listing_path(tmp_path, COMMIT)
    path.parent.mkdir(parents=True)
    for text in (
        "{not json",
        '{"format_version": 2, "files": {}}',
        '{"format_version": 1, "files": {"x": {}}}',
    ):
        path.write_text(text)
        assert read_listing(tmp_path, COMMIT) is None, text


def test_huggingface_hubs_own_listing_agrees_both_ways(tmp_path: Path):
    tree_cache = pytest.importorskip("huggingface_hub._tree_cache")  # only to check compatibility
    write_listing(tmp_path / "ours", COMMIT, FILES)
    theirs = tree_cache.read_tree_cache(str(tmp_path / "ours"), COMMIT)
    assert {n: (e.size, e.blob_id, e.lfs_sha256) for n, e in theirs.items()} == {
        f.name: (f.size, f.blob_id, f.sha256) for f in FILES
    }
    entries = {
        f.name: tree_cache.TreeCacheEntry(
            size=f.size, blob_id=str(f.blob_id), lfs_sha256=f.sha256, lfs_size=f.size if f.sha256 else None
        )
        for f in FILES
    }
    tree_cache.write_tree_cache(str(tmp_path / "hf"), COMMIT, entries)
    assert read_listing(tmp_path / "hf", COMMIT) == {f.name: f for f in FILES}
