"""Errors with messages ready for users: what went wrong, where, and what to do."""

from collections.abc import Iterable, Mapping


class GalleryError(Exception):
    """Base class for every error gallery reports to the user."""


class ConfigError(GalleryError):
    """The site or the [gallery] table cannot be used as written (exit status 2)."""


def reject_unknown_keys(table: object, known: Iterable[str], where: str) -> None:
    """A config table must be a table and use only known keys; ConfigError names the others."""
    if not isinstance(table, Mapping):
        raise ConfigError(f"{where} must be a table, got {table!r}")
    names = sorted(known)
    unknown = sorted(set(table) - set(names))
    if unknown:
        raise ConfigError(
            f"{where}: unknown key{'s' if len(unknown) > 1 else ''} {', '.join(unknown)} (known: {', '.join(names)})"
        )
