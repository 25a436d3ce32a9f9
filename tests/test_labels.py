"""svhn_api.labels: the one definition of the label format, and the layers that take their shapes from it."""

import ast
from pathlib import Path

import numpy as np
import pytest

from svhn_api import labels
from svhn_api.inference import decode
from svhn_api.records import DigitBox

ROOT = Path(__file__).resolve().parents[1]


def test_the_format():
    assert (labels.MAX_DIGITS, labels.NO_DIGIT, labels.N_HEADS, labels.N_CLASSES, labels.LABEL_WIDTH) == \
        (5, 10, 6, 11, 6)
    assert labels.OUTPUT_SHAPE == (labels.N_HEADS, labels.N_CLASSES)


def test_rows_and_numbers_round_trip():
    row = labels.digits_to_row([2, 1, 0])
    assert row.dtype == labels.LABEL_DTYPE and row.tolist() == [3, 2, 1, 0, 10, 10]
    assert labels.row_to_number(row) == "210"
    assert labels.digits_to_row([7]).tolist() == [1, 7, 10, 10, 10, 10]
    boxes = [DigitBox(10, 0, 0, 5, 5), DigitBox(4, 5, 0, 5, 5)]  # SVHN's 10 is the digit 0
    assert labels.boxes_to_row(boxes).tolist() == labels.digits_to_row([0, 4]).tolist()
    for n in ("0", "12345", "90210"):
        assert labels.row_to_number(labels.digits_to_row(int(c) for c in n)) == n
    assert labels.row_to_number(np.array([3, 1, 10, 5, 10, 10])) == "1"  # stops at "no digit"
    for bad in ([], [1, 2, 3, 4, 5, 6], [1, 10], [-1]):
        with pytest.raises(ValueError):
            labels.digits_to_row(bad)


def test_decoding_uses_the_same_format():
    assert decode.row_to_number is labels.row_to_number
    p = np.full((1, *labels.OUTPUT_SHAPE), 1e-3)
    p[0, 0, 2] = p[0, 1, 4] = p[0, 2, 2] = 1.0
    p[0, 3:, labels.NO_DIGIT] = 1.0
    rows, _ = decode.decode_batch(p)
    assert rows.shape == (1, labels.LABEL_WIDTH) and rows.dtype == labels.LABEL_DTYPE
    assert rows[0].tolist() == labels.digits_to_row([4, 2]).tolist()
    with pytest.raises(ValueError, match="6, 11"):
        decode.decode_batch(np.zeros((1, labels.N_HEADS, labels.N_CLASSES - 1)))


def _assigned_names(path: Path) -> set[str]:
    """Module-level and nested names bound by plain assignments (``A = ...``, ``A, B = ...``)."""
    targets = [t for node in ast.walk(ast.parse(path.read_text())) if isinstance(node, ast.Assign | ast.AnnAssign)
               for t in (node.targets if isinstance(node, ast.Assign) else [node.target])]
    return {n.id for t in targets for n in ast.walk(t) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)}


def test_no_other_module_defines_the_label_constants():
    owners = {str(p.relative_to(ROOT)) for p in (ROOT / "svhn_api").rglob("*.py")
              if _assigned_names(p) & {"MAX_DIGITS", "NO_DIGIT", "N_HEADS", "N_CLASSES", "LABEL_WIDTH"}}
    assert owners == {"svhn_api/labels.py"}
