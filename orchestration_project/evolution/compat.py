"""Run configs of the previous release still load: Config classes accept and map old field
names, with a ``DeprecationWarning`` and a log line.

A Config class lists its renamed fields in ``renamed_fields`` (``{"old": "new"}``) and mixes in
:class:`RenamedFields` before ``dg.Config``. For Dagster to accept the old name in a run config
(it checks run configs against the class's fields before pydantic sees them) the old name must
also be declared, as :func:`old_name` (``None`` by default, described as deprecated)::

    class ResearchConfig(RenamedFields, dg.Config):
        renamed_fields: ClassVar[dict[str, str]] = {"max_pages": "max_pages_per_site"}

        max_pages_per_site: int = Field(default=40, description="...")
        max_pages: int | None = old_name("max_pages_per_site")

An unknown name still fails (Dagster's config check, or pydantic's ``extra="forbid"``). Giving
both the old and the new name fails too: which one was meant is not known.
"""

import logging
import warnings
from collections.abc import Mapping
from typing import Any, ClassVar

from pydantic import Field, model_validator

log = logging.getLogger(__name__)


def old_name(new: str) -> Any:
    """The declaration of a renamed field's old name (always ``None`` after loading)."""
    return Field(default=None, description=f"Deprecated: renamed to `{new}`; use that.")


def map_renamed(
    data: Mapping[str, Any], renames: Mapping[str, str], *, owner: str = "config"
) -> dict[str, Any]:
    """``data`` with every old field name of ``renames`` replaced by its new name.

    Warns (``DeprecationWarning``) and logs once per old name used.

    Raises:
        ValueError: both the old and the new name are given.
    """
    out = dict(data)
    for old, new in renames.items():
        if old not in out:
            continue
        value = out.pop(old)
        if value is None:  # the declared old name left at its default
            continue
        if out.get(new) is not None:
            raise ValueError(f"{owner}: give {new!r} only, not also its old name {old!r}")
        message = f"{owner}: field {old!r} was renamed to {new!r}; {old!r} is deprecated"
        warnings.warn(message, DeprecationWarning, stacklevel=4)
        log.warning(message)
        out[new] = value
    return out


class RenamedFields:
    """Mixin for pydantic models (Dagster ``Config`` classes included) whose fields were
    renamed: maps ``renamed_fields`` (old -> new) before validation."""

    renamed_fields: ClassVar[Mapping[str, str]] = {}

    @model_validator(mode="before")
    @classmethod
    def _map_renamed_fields(cls, data: Any) -> Any:
        if isinstance(data, Mapping) and cls.renamed_fields:
            return map_renamed(data, cls.renamed_fields, owner=cls.__name__)
        return data


def renamed_fields(renames: Mapping[str, str]) -> type[RenamedFields]:
    """A :class:`RenamedFields` mixin with this map (``class C(renamed_fields({...}),
    dg.Config)``); declare each old name with :func:`old_name` for Dagster run configs."""
    return type("RenamedFieldsMixin", (RenamedFields,), {"renamed_fields": dict(renames)})


__all__ = ["RenamedFields", "map_renamed", "old_name", "renamed_fields"]
