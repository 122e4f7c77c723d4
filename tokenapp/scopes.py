"""The scope catalogue and the one question it answers: is (entity, op) allowed?

Pure: no Flask, no peewee. The catalogue is a TOML file (scopes.toml).
"""

import functools
import tomllib
from collections.abc import Iterable
from dataclasses import dataclass
from dataclasses import field
from pathlib import Path

OPERATIONS = ("create", "read", "update", "delete", "run", "webhook")
DEFAULT_FILE = Path(__file__).with_name("scopes.toml")

Grant = tuple[str, str]  # (entity, operation)


class CatalogueError(ValueError):
    """The catalogue file cannot be used; the message says where and why."""


class InvalidScope(ValueError):
    """A scope string the catalogue does not know; str() names the value."""


@dataclass(frozen=True)
class Scope:
    name: str
    description: str
    extensions: tuple[str, ...]
    entities: dict[str, frozenset[str]]


@dataclass(frozen=True)
class Catalogue:
    scopes: dict[str, Scope]
    extensions: dict[str, frozenset[str]]
    _grants: dict = field(default_factory=dict, compare=False, repr=False)
    # access.rules.decide's answers, kept per catalogue: a pure function of the
    # scopes, role and operations asked (never of a credential's state).
    decisions: dict = field(default_factory=dict, compare=False, repr=False)

    @functools.cached_property
    def entities(self) -> tuple[str, ...]:
        # Kept: a document read asks on every request (access.authorise).
        return tuple(sorted({e for scope in self.scopes.values() for e in scope.entities}))

    @property
    def scope_strings(self) -> list[str]:
        return [
            f"{scope.name}:{ext}" if ext else scope.name
            for scope in self.scopes.values()
            for ext in scope.extensions
        ]

    def validate(self, scope: str) -> tuple[str, str]:
        """Split "name:extension"; raises InvalidScope naming the bad value."""
        if not isinstance(scope, str):
            raise InvalidScope(f"{scope!r} is not a string")
        name, colon, ext = scope.partition(":")
        known = self.scopes.get(name)
        if known is None:
            raise InvalidScope(f"unknown scope {scope!r}")
        # "dashboard:" would otherwise pass as the bare scope under another spelling.
        if ext not in known.extensions or (colon and not ext):
            raise InvalidScope(
                f"unknown scope {scope!r}: {name!r} does not support the extension {ext!r}"
            )
        return name, ext

    def known(self, scope: str) -> bool:
        try:
            self.validate(scope)
        except InvalidScope:
            return False
        return True

    def grants(self, scopes: Iterable[str] | None) -> frozenset[Grant]:
        """Every (entity, operation) the scopes allow; None means every scope.

        These are scopes a credential holds: one the catalogue no longer knows
        (it was replaced) grants nothing. Scopes a client asks for are checked
        with validate() first, which refuses unknown ones.
        """
        if isinstance(scopes, tuple):  # a Principal's: asked several times per request
            cached = self._grants.get(scopes)
            if cached is not None:
                return cached
        key = None if scopes is None else tuple(sorted(scopes, key=str))
        cached = self._grants.get(key)
        if cached is None:
            cached = self._grants[key] = self._compute(key)
        if isinstance(scopes, tuple):
            self._grants[scopes] = cached
        return cached

    def _compute(self, scopes: tuple[str, ...] | None) -> frozenset[Grant]:
        if scopes is None:
            return frozenset(
                (entity, op)
                for scope in self.scopes.values()
                for entity, ops in scope.entities.items()
                for op in ops
            )
        grants = set()
        for scope in scopes:
            if not self.known(scope):
                continue
            name, ext = self.validate(scope)
            allowed = self.extensions[ext]
            for entity, ops in self.scopes[name].entities.items():
                grants.update((entity, op) for op in ops & allowed)
        return frozenset(grants)

    def allows(self, scopes: Iterable[str] | None, entity: str, op: str) -> bool:
        return (entity, op) in self.grants(scopes)

    def covers(self, have: Iterable[str] | None, want: Iterable[str] | None) -> bool:
        """True when scopes `have` allow everything `want` does."""
        return self.grants(want) <= self.grants(have)

    def needed(self, entity: str, op: str) -> str | None:
        """The narrowest scope string that allows op on entity, for 403 answers."""
        best = None
        for scope in self.scope_strings:
            grants = self.grants([scope])
            if (entity, op) in grants and (best is None or len(grants) < best[0]):
                best = (len(grants), scope)
        return best[1] if best else None


def load(path: str | Path | None = None) -> Catalogue:
    path = Path(path or DEFAULT_FILE)
    try:
        data = tomllib.loads(path.read_text())
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise CatalogueError(f"scope catalogue {path}: {exc}") from exc
    try:
        return _build(data)
    except (KeyError, TypeError, AttributeError, ValueError) as exc:
        raise CatalogueError(f"scope catalogue {path}: {exc}") from exc


def _build(data: dict) -> Catalogue:
    extensions = {
        name: _operations(ops, f"extension {name!r}") for name, ops in data["extensions"].items()
    }
    scopes = {}
    for name, spec in data["scopes"].items():
        if ":" in name or not name:
            raise ValueError(f"bad scope name {name!r}")
        exts = tuple(spec["extensions"])
        for ext in exts:
            if ext not in extensions:
                raise ValueError(f"scope {name!r} names unknown extension {ext!r}")
        entities = {
            entity: _operations(ops, f"scope {name!r} entity {entity!r}")
            for entity, ops in spec["entities"].items()
        }
        if not entities:
            raise ValueError(f"scope {name!r} has no entities")
        scopes[name] = Scope(name, spec.get("description", ""), exts, entities)
    if not scopes:
        raise ValueError("no scopes defined")
    return Catalogue(scopes=scopes, extensions=extensions)


def _operations(ops: list, where: str) -> frozenset[str]:
    unknown = set(ops) - set(OPERATIONS)
    if unknown:
        raise ValueError(f"{where}: unknown operations {sorted(unknown)}")
    return frozenset(ops)
