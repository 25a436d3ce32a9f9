"""The models: the registry of model kinds (``kinds``: importable without Keras, so the CLI checks a name
instantly), the architectures and their layers (Keras, imported on demand), model files, their runtime and
their cards."""
