"""Apply a unified diff (as ``git diff`` writes it) to a source tree, strictly.

The stack patches a pinned, checksum-verified Go module, so every hunk must apply exactly
where it says: no offsets, no fuzz. Anything else is an error naming the file and hunk, never
a half-patched tree that builds into something nobody reviewed. Pure Python, so a fresh
machine needs neither ``patch`` nor ``git``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from authtrail.errors import StackError

_HUNK = re.compile(r"^@@ -(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? @@")
_NO_NEWLINE = "\\ No newline at end of file"


class PatchError(StackError):
    pass


@dataclass
class Hunk:
    old_start: int
    old: list[str] = field(default_factory=list)  # context and removed lines, with their endings
    new: list[str] = field(default_factory=list)  # context and added lines, with their endings


@dataclass
class FilePatch:
    old_path: str | None  # None: the file is created
    new_path: str | None  # None: the file is deleted
    hunks: list[Hunk] = field(default_factory=list)


def parse(text: str) -> list[FilePatch]:
    """The file patches of ``text``; headers other than ``---``/``+++``/``@@`` are ignored."""
    patches: list[FilePatch] = []
    lines = text.splitlines(keepends=True)
    i = 0
    while i < len(lines):
        if not lines[i].startswith("--- "):
            i += 1
            continue
        if i + 1 >= len(lines) or not lines[i + 1].startswith("+++ "):
            raise PatchError(f"line {i + 1}: '---' without '+++'")
        patch = FilePatch(_path(lines[i][4:]), _path(lines[i + 1][4:]))
        patches.append(patch)
        i += 2
        while i < len(lines) and lines[i].startswith("@@"):
            i = _parse_hunk(lines, i, patch)
    if not patches:
        raise PatchError("no file patches found")
    return patches


def _parse_hunk(lines: list[str], i: int, patch: FilePatch) -> int:
    match = _HUNK.match(lines[i])
    if match is None:
        raise PatchError(f"line {i + 1}: malformed hunk header {lines[i]!r}")
    old_count = int(match.group(2) or "1")
    new_count = int(match.group(4) or "1")
    hunk = Hunk(old_start=int(match.group(1)))
    i += 1
    while len(hunk.old) < old_count or len(hunk.new) < new_count:
        if i >= len(lines):
            raise PatchError(f"{patch.new_path or patch.old_path}: hunk ends early")
        line = lines[i]
        kind, body = line[:1], line[1:]
        if line.rstrip("\n") == "":  # an empty context line whose space was stripped
            kind, body = " ", "\n"
        if kind not in " -+":
            raise PatchError(f"line {i + 1}: unexpected {line!r} in hunk")
        if kind in " -":
            hunk.old.append(body)
        if kind in " +":
            hunk.new.append(body)
        i += 1
        if i < len(lines) and lines[i].rstrip("\n") == _NO_NEWLINE:
            # the line just read is the last of its file and has no line ending
            sides = {"-": (hunk.old,), "+": (hunk.new,), " ": (hunk.old, hunk.new)}[kind]
            for side in sides:
                side[-1] = side[-1].rstrip("\n")
            i += 1
    patch.hunks.append(hunk)
    return i


def _path(header: str) -> str | None:
    name = header.rstrip("\n").split("\t", 1)[0]
    if name == "/dev/null":
        return None
    relative = PurePosixPath(name.split("/", 1)[1] if name[:2] in ("a/", "b/") else name)
    if relative.is_absolute() or ".." in relative.parts:
        raise PatchError(f"unsafe path in patch: {name!r}")
    return str(relative)


def apply(text: str, root: Path) -> list[str]:
    """Apply the diff ``text`` under ``root``; returns the paths written, in patch order."""
    written = []
    for patch in parse(text):
        name = patch.new_path or patch.old_path
        assert name is not None
        target = root / name
        if patch.old_path is None:
            if target.exists():
                raise PatchError(f"{name}: the patch creates it, but it exists")
            content: list[str] = []
        else:
            content = (root / patch.old_path).read_text().splitlines(keepends=True)
        for number, hunk in enumerate(reversed(patch.hunks), start=1):
            start = max(hunk.old_start - 1, 0) if hunk.old else hunk.old_start
            if content[start : start + len(hunk.old)] != hunk.old:
                raise PatchError(
                    f"{name}: hunk {len(patch.hunks) - number + 1} (line {hunk.old_start}) does not apply"
                )
            content[start : start + len(hunk.old)] = hunk.new
        if patch.new_path is None:
            target.unlink()
        else:
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text("".join(content))
        written.append(name)
    return written
