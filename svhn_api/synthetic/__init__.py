"""Synthetic house-number photos, rendered (the product's embedded default dataset is made of them).

- ``render_sample(rng, split="train")`` draws one photo (PIL RGB) and its digit boxes.
- ``build.iter_items(split, count, seed=0, jobs=-1)`` renders and PNG-encodes many, in parallel, in order;
  ``data.synthetic_archives.synth`` writes them as archives in the official SVHN layout.

The renderer sits below ``data``: it imports only the package's shared types (``records``), never a layer.

The layout statistics come from ``stats.json`` (real SVHN annotations, see ``pipelines/calibrate_synth.py``).
"""

from svhn_api.synthetic.render import render_sample

__all__ = ["render_sample"]
