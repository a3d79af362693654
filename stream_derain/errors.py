"""Errors a user can act on. The CLI prints them as one line and exits non-zero."""


class DerainError(Exception):
    """Bad input, a missing file, an unusable model: anything the user can fix."""
