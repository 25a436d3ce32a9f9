"""The package version: one place, read by the package root, the model card, the store and the build."""

__version__ = "0.2.0"
