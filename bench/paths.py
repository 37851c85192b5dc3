"""Where the bench reads and writes."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
# Scratch space (git-ignored build/): logs of the servers, per-section results, bytecode.
WORK_DIR = ROOT / "build" / "bench"
