"""Errors a user can act on: each message names the file at fault and says what to do."""


class SVHNError(Exception):
    """Base class for every error the library raises on purpose."""


class ArchiveError(SVHNError):
    """An archive is missing, corrupt, unsafe, or fails its checksum."""


class DataError(SVHNError):
    """A prepared store or an annotation file is unreadable or inconsistent."""


class ImageError(SVHNError):
    """An input image cannot be decoded or is too large to be decoded safely."""


class ImageTooLarge(ImageError):
    """An input image over the byte or pixel limit (``data.images``): refused before its pixels are decoded."""


class ModelError(SVHNError):
    """A model file or its card is missing or does not match what is asked of it."""


class BoxWarning(UserWarning):
    """A number box that lies partly outside its image: it is clipped to the image and read."""
