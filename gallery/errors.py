"""Errors with messages ready for users: what went wrong, where, and what to do."""


class GalleryError(Exception):
    """Base class for every error gallery reports to the user."""


class ConfigError(GalleryError):
    """The site or the [gallery] table cannot be used as written (exit status 2)."""
