"""The README's accuracy figures are the ones recorded in the shipped reader's card (``pipelines.ship`` re-records
them whenever a model is shipped), all four real-photo figures are quoted, and the README stays short and free
of this build environment's paths; its Python API example runs from any folder, not only from a checkout."""

from __future__ import annotations

import json
import re
import shutil
import tarfile
from pathlib import Path
from types import SimpleNamespace

import numpy as np

from tests.conftest import draw_number

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
CARD = ROOT / "artifacts" / "models" / "compact" / "card.json"
SECTION = "## What accuracy to expect on real photos"
FIGURE = re.compile(r"(\d[\d,]*)\s*/\s*(\d[\d,]*)\s*=\s*(\d+(?:\.\d+)?)\s*%")
MAX_LINES = 220


def section(text: str, heading: str) -> str:
    """The lines under ``heading`` up to the next heading of the same or a higher level."""
    lines = text.splitlines()
    assert heading in lines, f"README.md has no heading {heading!r}"
    start = lines.index(heading) + 1
    level = heading.split(" ", 1)[0]
    end, fenced = len(lines), False
    for i in range(start, len(lines)):
        fenced ^= lines[i].startswith("```")
        if not fenced and lines[i].startswith("#") and lines[i].split(" ", 1)[0] <= level:
            end = i
            break
    return "\n".join(lines[start:end])


def figures(text: str) -> list[tuple[int, int, float]]:
    """Every ``N/M = P%`` in ``text`` as (N, M, P)."""
    return [(int(n.replace(",", "")), int(m.replace(",", "")), float(p)) for n, m, p in FIGURE.findall(text)]


def real_evaluations() -> list[dict]:
    card = json.loads(CARD.read_text())
    return [e for e in card["evaluations"] if e.get("data", {}).get("kind") == "real SVHN"]


def photo_evaluations() -> dict[tuple[str, str], dict]:
    """The card's four real-photo evaluations, keyed by (test | validation, box | whole)."""
    out: dict[tuple[str, str], dict] = {}
    for e in real_evaluations():
        name, crop = e["data"]["name"], e["data"]["crop"]
        if "zoomed out" in name:   # the re-framed validation copies: a model-selection set, not quoted
            continue
        which = "test" if "test photos" in name else "validation" if "validation photos" in name else None
        how = "box" if "ground-truth" in crop else "whole" if "whole photo" in crop else None
        if which and how:
            assert (which, how) not in out, f"{CARD}: two real-SVHN evaluations of the {which} photos, {how}"
            out[which, how] = e
    assert len(out) == 4, f"{CARD}: expected real-SVHN test and validation evaluations, box and whole; got {out}"
    return out


def accuracy_table(text: str) -> dict[tuple[str, str], tuple[int, int, float]]:
    """The section's table: each cell holding a figure, keyed by (its row's test | validation, its column's
    box | whole)."""
    rows = [[c.strip() for c in line.strip().strip("|").split("|")] for line in text.splitlines()
            if line.lstrip().startswith("|")]
    assert len(rows) >= 3, "the accuracy section has no table"
    header, body = rows[0], [r for r in rows[1:] if not set("".join(r)) <= set("-: ")]
    cols = {"box" if "box" in h.lower() else "whole" if "whole" in h.lower() else None: i
            for i, h in enumerate(header)}
    cells = {}
    for row in body:
        which = "test" if "test" in row[0].lower() else "validation" if "validation" in row[0].lower() else None
        for how in ("box", "whole"):
            if which and how in cols and cols[how] < len(row):
                found = figures(row[cols[how]])
                assert len(found) == 1, f"README table, {which} / {how}: expected one N/M = P%, got {row[cols[how]]!r}"
                cells[which, how] = found[0]
    return cells


def test_every_accuracy_figure_in_the_readme_is_recorded_in_the_card():
    quoted = figures(section(README.read_text(), SECTION))
    assert quoted, f"no N/M = P% figure under {SECTION!r}"
    recorded = {(e["metrics"]["correct"], e["metrics"]["count"]) for e in real_evaluations()}
    for n, m, p in quoted:
        assert (n, m) in recorded, f"README quotes {n}/{m}, which {CARD} does not record for real SVHN {recorded}"
        assert p == round(100 * n / m, 1), f"README: {n}/{m} = {p}% should read {round(100 * n / m, 1)}%"


def test_the_four_real_photo_figures_of_the_card_are_quoted_in_their_cells():
    cells = accuracy_table(section(README.read_text(), SECTION))
    for (which, how), e in photo_evaluations().items():
        n, m = e["metrics"]["correct"], e["metrics"]["count"]
        assert abs(e["metrics"]["whole_number_accuracy"] - n / m) < 1e-5, f"{CARD}: {which}/{how} disagrees"
        assert cells.get((which, how)) == (n, m, round(100 * n / m, 1)), (
            f"README's table should quote the {which} photos, {how}, as {n}/{m} = {round(100 * n / m, 1)}% "
            f"(from {CARD}); it has {cells.get((which, how))}")


def test_the_readme_is_short_and_names_no_build_environment_path():
    text = README.read_text()
    lines = len(text.splitlines())
    assert lines < MAX_LINES, f"README.md has {lines} lines; keep it under {MAX_LINES}, move details to docs/"
    assert "../shared" not in text, "README.md names a ../shared path of the build environment"
    assert "our build machines" not in text.lower()


def test_the_readme_links_files_that_exist():
    text = README.read_text()
    targets = re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", text) + re.findall(r'<img src="([^"]+)"', text)
    local = [t for t in targets if "://" not in t]
    assert local, "README.md links no docs"
    missing = [t for t in local if not (ROOT / t).exists()]
    assert not missing, f"README.md links missing files: {missing}"


API = "## Python API"


def python_example(heading: str) -> str:
    """The ```python block under ``heading``."""
    found = re.findall(r"^```python\n(.*?)^```", section(README.read_text(), heading), re.S | re.M)
    assert len(found) == 1, f"README.md: expected one python block under {heading!r}, found {len(found)}"
    return found[0]


def test_the_python_api_example_runs_in_a_folder_outside_the_checkout(tmp_path, monkeypatch, tiny_store):
    """Every line of the README's API example, run where a user of ``pip install .`` would: a folder of their
    own with their photos, the default locations, no checkout around. Only the two slow calls are stood in
    for, each doing quickly what it does: ``prepare`` (~90 s of rendering) writes a small store where it writes
    its own, ``train`` (30 minutes) leaves a copy of the shipped reader where a run goes."""
    import svhn_api
    from svhn_api import paths
    from svhn_api.data.prepare import PrepareSummary

    monkeypatch.chdir(tmp_path)
    for name in ("SVHN_DATA", "SVHN_RUNS", "SVHN_MODEL", "SVHN_LOCALIZER", "SVHN_DIGITS", "SVHN_DETECTOR"):
        monkeypatch.delenv(name, raising=False)
    img = draw_number("258", np.random.default_rng(0))[0].resize((140, 76))   # holds the example's box
    for name in ("photo.png", "a.png"):
        img.save(name)
    Path("photos").mkdir()
    img.save("photos/1.png")
    with tarfile.open("batch.tar.gz", "w:gz") as tar:
        tar.add("a.png", "batch/2.png")

    def prepare(archives=None, *, source="official", **kwargs):
        assert source == "synthetic" and not kwargs, (source, kwargs)
        out = paths.synthetic_dir() / "synthetic_union.h5"
        out.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(tiny_store, out)
        return PrepareSummary(path=str(out), crop="union", counts={"train": 256, "validation": 64, "test": 64})

    def train(data, model="compact", **kwargs):
        assert Path(data).is_file(), f"train(data={data!r}): no such store"
        folder = paths.runs_dir() / model
        folder.mkdir(parents=True)
        for name in ("model.keras", "model.onnx", "card.json"):
            shutil.copy2(paths.shipped_models_dir() / model / name, folder / name)
        return SimpleNamespace(folder=str(folder), model=str(folder / "model.keras"))

    monkeypatch.setattr(svhn_api, "prepare", prepare)
    monkeypatch.setattr(svhn_api, "train", train)
    code = python_example(API)
    assert 'b"...png bytes..."' in code   # the one stand-in of the example's text, for a photo's bytes
    namespace = {"pil_image": img, "numpy_array": np.asarray(img)}
    exec(compile(code.replace('b"...png bytes..."', 'open("a.png", "rb").read()'), "README.md", "exec"), namespace)
    assert namespace["report"].data.count == 64
    assert Path("results.csv").is_file()
    assert not list(tmp_path.glob("artifacts*")), "the example wrote into a folder named like the checkout's"
