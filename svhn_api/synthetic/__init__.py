"""Synthetic house-number photos in the official SVHN layout (the product's embedded default dataset).

- ``render_sample(rng, split="train")`` draws one photo (PIL RGB) and its digit boxes.
- ``synth(out_dir, train=..., extra=..., test=..., seed=0, jobs=-1, progress=True)`` writes
  ``train.tar.gz``, ``extra.tar.gz`` and ``test.tar.gz`` (PNGs + ``digitStruct.mat``) and ``manifest.json``.

The layout statistics come from ``stats.json`` (real SVHN annotations, see ``pipelines/calibrate_synth.py``).
"""

from svhn_api.synthetic.build import synth
from svhn_api.synthetic.render import render_sample

__all__ = ["render_sample", "synth"]
