"""Errors raised by the data layer.

Every message is written for a student who may not know where the data lives:
it names the file, says where we looked and what to do next.
"""
from __future__ import annotations


class DataError(Exception):
    """Base class: catch this to handle any data-layer problem."""


class UnknownDatasetError(DataError, KeyError):
    """The name is not in the registry (the message suggests close names)."""

    def __str__(self) -> str:  # KeyError would otherwise print the repr
        return str(self.args[0]) if self.args else ""


class DataUnavailableError(DataError):
    """The file is in no mirror, not in the cache, and could not be downloaded."""


class IntegrityError(DataError):
    """A copy of the file exists but is not the file the registry describes."""


class HashMismatchError(IntegrityError):
    """The content's sha256 differs from the registry's."""


class CorruptFileError(IntegrityError):
    """The file is truncated or is a broken archive."""


class CacheNotWritableError(DataError):
    """The user cache folder cannot be created or written to."""


class LossyDataWarning(UserWarning):
    """The data came from a lossy copy (e.g. CIFAR-10 re-encoded as JPEG)."""
