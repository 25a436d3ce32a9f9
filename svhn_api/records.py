"""The small value types every stage shares: a digit box and an annotated image."""

from typing import NamedTuple


class DigitBox(NamedTuple):
    """One digit's box as the official digitStruct stores it. ``label`` is 1-10; 10 means the digit 0."""

    label: int
    left: float
    top: float
    width: float
    height: float

    @property
    def digit(self) -> int:
        return 0 if self.label == 10 else int(self.label)


class ImageRecord(NamedTuple):
    """One image of an archive: its file name (e.g. ``1.png``) and its digit boxes, left to right."""

    filename: str
    boxes: list[DigitBox]
