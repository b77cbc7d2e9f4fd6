"""The run's artifacts on disk: `OUT/DATASET/YYYY-MM-DD/` with `validation.json`
(everything, machine-readable), `validation.md` (the summary a risk manager reads)
and the charts' PNGs.

Each file is written beside its final name and renamed into place, so a reader (or
a run that is killed halfway) never sees half a file; a re-run of the same day
replaces the previous run's files.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from riskwatch.validation.charts import Chart

JSON_FILE = "validation.json"
MARKDOWN_FILE = "validation.md"


@dataclass(frozen=True)
class Artifacts:
    """Where a run's files went."""

    folder: Path
    json_path: Path
    markdown_path: Path
    charts: tuple[Path, ...]


def run_folder(out_dir: Path, dataset: str, as_of: str) -> Path:
    """The folder of one run's artifacts."""
    return out_dir / dataset / as_of


def _write(path: Path, content: bytes) -> Path:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(content)
    os.replace(tmp, path)
    return path


def write_artifacts(
    out_dir: Path, data: dict[str, Any], markdown: str, charts: list[Chart]
) -> Artifacts:
    """Write the JSON (`data`), the Markdown and the charts of one run.

    Raises:
        OSError: the folder or a file cannot be written.
    """
    folder = run_folder(out_dir, data["dataset"], data["as_of"])
    folder.mkdir(parents=True, exist_ok=True)
    text = json.dumps(data, indent=1, allow_nan=False) + "\n"
    return Artifacts(
        folder=folder,
        json_path=_write(folder / JSON_FILE, text.encode()),
        markdown_path=_write(folder / MARKDOWN_FILE, markdown.encode()),
        charts=tuple(_write(folder / chart.name, chart.png) for chart in charts),
    )
