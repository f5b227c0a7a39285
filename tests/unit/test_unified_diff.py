"""The strict unified-diff applier the stack patches FerretDB with, and the patch's pin."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from authtrail.errors import StackError
from scripts.stack import unified_diff, versions
from scripts.stack.unified_diff import PatchError

ORIGINAL = "one\ntwo\nthree\nfour\nfive\n"
EDIT = """diff --git a/dir/file.txt b/dir/file.txt
index 1111111..2222222 100644
--- a/dir/file.txt
+++ b/dir/file.txt
@@ -1,3 +1,3 @@
 one
-two
+TWO
 three
@@ -5 +5,2 @@
 five
+six
"""
NEW_FILE = """--- /dev/null
+++ b/new/created.go
@@ -0,0 +1,2 @@
+package x
+// no newline
\\ No newline at end of file
"""


def test_applies_hunks_and_creates_files(tmp_path: Path) -> None:
    (tmp_path / "dir").mkdir()
    (tmp_path / "dir" / "file.txt").write_text(ORIGINAL)
    assert unified_diff.apply(EDIT + NEW_FILE, tmp_path) == ["dir/file.txt", "new/created.go"]
    assert (tmp_path / "dir" / "file.txt").read_text() == "one\nTWO\nthree\nfour\nfive\nsix\n"
    assert (tmp_path / "new" / "created.go").read_text() == "package x\n// no newline"


def test_a_hunk_that_does_not_match_exactly_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "dir").mkdir()
    (tmp_path / "dir" / "file.txt").write_text(ORIGINAL.replace("two", "2"))
    with pytest.raises(PatchError, match=r"dir/file.txt: hunk 1 \(line 1\) does not apply"):
        unified_diff.apply(EDIT, tmp_path)


def test_creating_an_existing_file_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "new").mkdir()
    (tmp_path / "new" / "created.go").write_text("")
    with pytest.raises(PatchError, match="exists"):
        unified_diff.apply(NEW_FILE, tmp_path)


@pytest.mark.parametrize("path", ["/etc/passwd", "a/../../outside"])
def test_paths_outside_the_tree_are_refused(tmp_path: Path, path: str) -> None:
    with pytest.raises(PatchError, match="unsafe path"):
        unified_diff.apply(f"--- {path}\n+++ {path}\n@@ -1 +1 @@\n-x\n+y\n", tmp_path)


def test_text_without_patches_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(PatchError, match="no file patches"):
        unified_diff.apply("just words\n", tmp_path)


def test_the_stack_patch_matches_its_pin_and_parses() -> None:
    text = versions.ferretdb_patch()
    assert hashlib.sha256(text.encode()).hexdigest() == versions.FERRETDB_PATCH_SHA256
    names = [p.new_path for p in unified_diff.parse(text)]
    assert "internal/backends/postgresql/query.go" not in names  # the original pushdown is kept
    assert "internal/backends/postgresql/pushdown.go" in names
    assert versions.ferretdb_build_version() == f"v1.24.2-authtrail.{versions.FERRETDB_PATCH_SHA256[:8]}"


def test_an_edited_patch_without_a_new_pin_fails_loudly(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    edited = tmp_path / "pushdown.patch"
    edited.write_bytes(versions.FERRETDB_PATCH.read_bytes() + b"\n")
    monkeypatch.setattr(versions, "FERRETDB_PATCH", edited)
    with pytest.raises(StackError, match="update FERRETDB_PATCH_SHA256"):
        versions.ferretdb_patch()
