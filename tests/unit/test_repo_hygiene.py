"""Every reference a comment, docstring or doc makes resolves inside this repository.

A reader of the code has the repository, nothing else: no design notes kept elsewhere, no paths of one machine.
So a mention of a document or source file (``docs/x.md``, ``reconciler/runtime/store.py``) must name a file that
exists here, and nothing may point at ``/work/`` or ``../shared``.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
_MENTION = re.compile(
    r"(?<![\w/.-])((?:docs|crds|reconciler|speaker|webhooks|tests|bench|charts|examples|config)/[\w./*-]*[\w*])"
)
# Files of ours have these suffixes; other mentions (``speaker/main.go``) cite MetalLB's tree, not ours.
_LOCAL_SUFFIXES = (".py", ".md", ".yaml", ".yml", ".sh", ".mk", ".json", ".toml", ".txt")
_OUTSIDE = re.compile(r"/work/|\.\./shared|DESIGN\.md|STYLE\.md|ecosystem\.md|metallb-upstream\.md|peers\.md")


def _tracked() -> list[Path]:
    out = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    return [
        ROOT / line
        for line in out.splitlines()
        if line.endswith((".py", ".md", ".sh", ".mk", "Makefile")) and not line.startswith("tests/golden/")
    ]


def test_no_reference_points_outside_the_repository() -> None:
    bad = []
    for path in _tracked():
        if path.name == "test_repo_hygiene.py" or not path.exists():
            continue
        for n, line in enumerate(path.read_text().splitlines(), 1):
            if _OUTSIDE.search(line):
                bad.append(f"{path.relative_to(ROOT)}:{n}: {line.strip()}")
    assert not bad, "references outside the repository:\n" + "\n".join(bad)


def test_every_mentioned_repository_path_exists() -> None:
    missing = []
    for path in _tracked():
        if path.name == "test_repo_hygiene.py" or not path.exists():
            continue
        for n, line in enumerate(path.read_text().splitlines(), 1):
            for mention in _MENTION.findall(line):
                target = mention.rstrip(".")
                if "*" in target or "<" in target or not target.endswith(_LOCAL_SUFFIXES):
                    continue
                if not (ROOT / target).exists() and not (ROOT / target.split(":")[0]).exists():
                    missing.append(f"{path.relative_to(ROOT)}:{n}: {target}")
    assert not missing, "mentions of paths that do not exist:\n" + "\n".join(missing)
