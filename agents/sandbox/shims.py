"""Sandbox versions of the standard-library class factories that write code at run time.

Why. ``dataclasses.dataclass``, ``collections.namedtuple`` and ``typing.NamedTuple`` build
their methods by compiling source text (``exec``/``eval``), look up their caller's module with
``sys._getframe`` and set attributes on the finished class. Each of those is an audit event the
worker's audit hook blocks once the policy runs (:func:`~.guards.make_audit_hook`: ``compile``,
``sys._getframe``, ``object.__setattr__`` on a type), so an honest policy that declares a small
record type would fall back on every call. Unblocking those events would hand every policy a
compiler, so instead the policy's ``dataclasses``, ``collections`` and ``typing`` views get the
functions of this module: the same public behaviour for what policies write (fields with
defaults and ``field(default_factory=...)``, ``frozen``, ``order``, ``eq``, ``repr``,
``fields``, ``asdict``, ``astuple``, ``replace``; named tuples with field access, defaults and
``_asdict``), made from plain closures and one ``type(...)`` call, with no code compiled,
no frame read and no attribute set on a finished class.

Not supported (the factories raise ``TypeError`` saying so): ``InitVar``, ``KW_ONLY``,
``slots=True``, ``weakref_slot``. A ``__post_init__`` method is called after ``__init__``.

This module imports only the standard library: the worker loads it by path.
"""

from __future__ import annotations

import keyword
import operator
from typing import Any

__all__ = [
    "MISSING",
    "Field",
    "FrozenInstanceError",
    "NamedTuple",
    "asdict",
    "astuple",
    "dataclass",
    "field",
    "fields",
    "is_dataclass",
    "namedtuple",
    "replace",
]

_FIELDS = "__dataclass_fields__"
_PARAMS = "__dataclass_params__"


class _MissingType:
    def __repr__(self) -> str:
        return "MISSING"


MISSING: Any = _MissingType()


class FrozenInstanceError(AttributeError):
    """Assignment to a field of a frozen dataclass instance."""


class Field:
    """One field of a dataclass (what :func:`field` returns and :func:`fields` lists)."""

    __slots__ = ("name", "type", "default", "default_factory", "init", "repr", "hash", "compare", "metadata",
                 "kw_only")

    def __init__(self, default: Any = MISSING, default_factory: Any = MISSING, init: bool = True, repr: bool = True,
                 hash: bool | None = None, compare: bool = True, metadata: Any = None, kw_only: Any = MISSING):
        if default is not MISSING and default_factory is not MISSING:
            raise ValueError("cannot specify both default and default_factory")
        self.name: str | None = None
        self.type: Any = None
        self.default = default
        self.default_factory = default_factory
        self.init = init
        self.repr = repr
        self.hash = hash
        self.compare = compare
        self.metadata = dict(metadata or {})
        self.kw_only = kw_only

    def __repr__(self) -> str:
        return (f"Field(name={self.name!r}, default={self.default!r}, default_factory={self.default_factory!r}, "
                f"init={self.init!r}, repr={self.repr!r}, compare={self.compare!r})")


def field(*, default: Any = MISSING, default_factory: Any = MISSING, init: bool = True, repr: bool = True,
          hash: bool | None = None, compare: bool = True, metadata: Any = None, kw_only: Any = MISSING) -> Any:
    """A field with options (as :func:`dataclasses.field`)."""
    return Field(default, default_factory, init, repr, hash, compare, metadata, kw_only)


def _is_classvar(annotation: Any) -> bool:
    if isinstance(annotation, str):
        return annotation.startswith(("ClassVar", "typing.ClassVar"))
    return repr(annotation).startswith("typing.ClassVar")


def _collect_fields(cls: type, kw_only: bool) -> dict[str, Field]:
    collected: dict[str, Field] = {}
    for base in reversed(cls.__mro__[1:]):
        inherited = base.__dict__.get(_FIELDS)
        if inherited:
            collected.update(inherited)
    own = cls.__dict__.get("__annotations__", {})
    for name, annotation in own.items():
        if _is_classvar(annotation):
            continue
        value = cls.__dict__.get(name, MISSING)
        item = value if isinstance(value, Field) else Field(default=value)
        item.name, item.type = name, annotation
        if item.kw_only is MISSING:
            item.kw_only = kw_only
        if isinstance(item.default, (list, dict, set)):
            raise ValueError(f"mutable default {type(item.default).__name__} for field {name} is not allowed: "
                             "use default_factory")
        collected[name] = item
    seen_default = False
    for item in collected.values():
        if not item.init or item.kw_only:
            continue
        has_default = item.default is not MISSING or item.default_factory is not MISSING
        if seen_default and not has_default:
            raise TypeError(f"non-default argument {item.name!r} follows default argument")
        seen_default = seen_default or has_default
    return collected


def _values(instance: Any, which: str) -> tuple:
    return tuple(getattr(instance, f.name) for f in instance.__class__.__dict__[_FIELDS].values()
                 if getattr(f, which))


def _make_init(cls_name: str, all_fields: dict[str, Field]):
    positional = [f for f in all_fields.values() if f.init and not f.kw_only]
    accepted = {f.name for f in all_fields.values() if f.init}

    def init(self, *args, **kwargs):
        if len(args) > len(positional):
            raise TypeError(f"{cls_name}() takes {len(positional)} positional arguments but {len(args)} were given")
        given = {f.name: value for f, value in zip(positional, args)}
        for name, value in kwargs.items():
            if name not in accepted:
                raise TypeError(f"{cls_name}() got an unexpected keyword argument {name!r}")
            if name in given:
                raise TypeError(f"{cls_name}() got multiple values for argument {name!r}")
            given[name] = value
        for item in all_fields.values():
            if item.name in given:
                value = given[item.name]
            elif item.default is not MISSING:
                value = item.default
            elif item.default_factory is not MISSING:
                value = item.default_factory()
            else:
                raise TypeError(f"{cls_name}() missing required argument: {item.name!r}")
            object.__setattr__(self, item.name, value)
        post_init = getattr(self, "__post_init__", None)
        if post_init is not None:
            post_init()

    return init


def _make_repr(all_fields: dict[str, Field]):
    shown = [f.name for f in all_fields.values() if f.repr]

    def representation(self):
        inner = ", ".join(f"{name}={getattr(self, name)!r}" for name in shown)
        return f"{self.__class__.__qualname__}({inner})"

    return representation


def _make_comparison(compare):
    def method(self, other):
        if other.__class__ is self.__class__:
            return compare(_values(self, "compare"), _values(other, "compare"))
        return NotImplemented

    return method


def _frozen_setattr(self, name, value):
    raise FrozenInstanceError(f"cannot assign to field {name!r}")


def _frozen_delattr(self, name):
    raise FrozenInstanceError(f"cannot delete field {name!r}")


def _hash(self):
    return hash(_values(self, "compare"))


def dataclass(cls: type | None = None, /, *, init: bool = True, repr: bool = True, eq: bool = True, order: bool = False,
              unsafe_hash: bool = False, frozen: bool = False, match_args: bool = True, kw_only: bool = False,
              slots: bool = False, weakref_slot: bool = False):
    """A class decorator with the behaviour of :func:`dataclasses.dataclass` (see the module
    docstring); it returns a new class built from the decorated one."""
    if slots or weakref_slot:
        raise TypeError("dataclass(slots=True) is not supported in the sandbox")
    if order and not eq:
        raise ValueError("eq must be true if order is true")

    def wrap(cls: type) -> type:
        all_fields = _collect_fields(cls, kw_only)
        namespace = {key: value for key, value in cls.__dict__.items() if key not in ("__dict__", "__weakref__")}
        for name, item in all_fields.items():
            if name in cls.__dict__.get("__annotations__", {}):
                if item.default is MISSING:
                    namespace.pop(name, None)
                else:
                    namespace[name] = item.default
        namespace[_FIELDS] = all_fields
        namespace[_PARAMS] = {"init": init, "repr": repr, "eq": eq, "order": order, "frozen": frozen}
        if init and "__init__" not in cls.__dict__:
            namespace["__init__"] = _make_init(cls.__name__, all_fields)
        if repr and "__repr__" not in cls.__dict__:
            namespace["__repr__"] = _make_repr(all_fields)
        if eq and "__eq__" not in cls.__dict__:
            namespace["__eq__"] = _make_comparison(operator.eq)
        if order:
            for name, compare in (("__lt__", operator.lt), ("__le__", operator.le), ("__gt__", operator.gt),
                                  ("__ge__", operator.ge)):
                namespace[name] = _make_comparison(compare)
        if frozen:
            namespace["__setattr__"] = _frozen_setattr
            namespace["__delattr__"] = _frozen_delattr
        if "__hash__" not in cls.__dict__ or cls.__dict__["__hash__"] is None:
            if unsafe_hash or (eq and frozen):
                namespace["__hash__"] = _hash
            elif eq:
                namespace["__hash__"] = None
        if match_args and "__match_args__" not in cls.__dict__:
            namespace["__match_args__"] = tuple(f.name for f in all_fields.values() if f.init and not f.kw_only)
        return type(cls)(cls.__name__, cls.__bases__, namespace)

    return wrap if cls is None else wrap(cls)


def is_dataclass(obj: Any) -> bool:
    """Whether ``obj`` is a dataclass or an instance of one."""
    cls = obj if isinstance(obj, type) else obj.__class__
    return any(_FIELDS in klass.__dict__ for klass in cls.__mro__)


def fields(obj: Any) -> tuple[Field, ...]:
    """The fields of a dataclass or instance, in order."""
    cls = obj if isinstance(obj, type) else obj.__class__
    for klass in cls.__mro__:
        if _FIELDS in klass.__dict__:
            return tuple(klass.__dict__[_FIELDS].values())
    raise TypeError("must be called with a dataclass type or instance")


def _convert(value: Any, factory: Any) -> Any:
    if is_dataclass(value) and not isinstance(value, type):
        return factory(value)
    if isinstance(value, tuple) and hasattr(value, "_fields"):
        return value.__class__(*[_convert(v, factory) for v in value])
    if isinstance(value, (list, tuple)):
        return value.__class__(_convert(v, factory) for v in value)
    if isinstance(value, dict):
        return value.__class__((_convert(k, factory), _convert(v, factory)) for k, v in value.items())
    return value


def asdict(obj: Any, *, dict_factory: Any = dict) -> dict:
    """A dataclass instance as a dict of its fields (recursively)."""
    if not is_dataclass(obj) or isinstance(obj, type):
        raise TypeError("asdict() should be called on dataclass instances")
    return dict_factory((f.name, _convert(getattr(obj, f.name), lambda v: asdict(v, dict_factory=dict_factory)))
                        for f in fields(obj))


def astuple(obj: Any, *, tuple_factory: Any = tuple) -> tuple:
    """A dataclass instance as a tuple of its fields (recursively)."""
    if not is_dataclass(obj) or isinstance(obj, type):
        raise TypeError("astuple() should be called on dataclass instances")
    return tuple_factory([_convert(getattr(obj, f.name), lambda v: astuple(v, tuple_factory=tuple_factory))
                          for f in fields(obj)])


def replace(obj: Any, /, **changes: Any) -> Any:
    """A copy of a dataclass instance with some fields changed."""
    if not is_dataclass(obj) or isinstance(obj, type):
        raise TypeError("replace() should be called on dataclass instances")
    for item in fields(obj):
        if item.init and item.name not in changes:
            changes[item.name] = getattr(obj, item.name)
    return obj.__class__(**changes)


# ---------------------------------------------------------------------------------------------
# Named tuples
# ---------------------------------------------------------------------------------------------


def _field_names(typename: str, field_names: Any, rename: bool) -> tuple[str, ...]:
    if isinstance(field_names, str):
        field_names = field_names.replace(",", " ").split()
    names = [str(name) for name in field_names]
    seen: set[str] = set()
    for index, name in enumerate(names):
        bad = (not name.isidentifier() or keyword.iskeyword(name) or name.startswith("_") or name in seen)
        if bad and rename:
            names[index] = name = f"_{index}"
        elif bad:
            raise ValueError(f"invalid or duplicate field name for {typename}: {name!r}")
        seen.add(name)
    if not (isinstance(typename, str) and typename.isidentifier() and not keyword.iskeyword(typename)):
        raise ValueError(f"type names must be valid identifiers: {typename!r}")
    return tuple(names)


def _build_namedtuple(typename: str, names: tuple[str, ...], defaults: tuple, module: Any,
                      extra: dict[str, Any] | None = None) -> type:
    if len(defaults) > len(names):
        raise TypeError("got more default values than field names")
    field_defaults = dict(zip(names[len(names) - len(defaults):], defaults))

    def new(cls, *args, **kwargs):
        if len(args) > len(names):
            raise TypeError(f"{typename}() takes {len(names)} positional arguments but {len(args)} were given")
        values = dict(zip(names, args))
        for name, value in kwargs.items():
            if name not in names:
                raise TypeError(f"{typename}() got an unexpected keyword argument {name!r}")
            if name in values:
                raise TypeError(f"{typename}() got multiple values for argument {name!r}")
            values[name] = value
        for name in names:
            if name not in values:
                if name not in field_defaults:
                    raise TypeError(f"{typename}() missing required argument: {name!r}")
                values[name] = field_defaults[name]
        return tuple.__new__(cls, [values[name] for name in names])

    def representation(self):
        return f"{self.__class__.__name__}(" + ", ".join(f"{n}={v!r}" for n, v in zip(names, self)) + ")"

    def as_dict(self):
        return dict(zip(names, self))

    def replaced(self, **changes):
        return self.__class__(**{**dict(zip(names, self)), **changes})

    def make(cls, iterable):
        values = tuple(iterable)
        if len(values) != len(names):
            raise TypeError(f"expected {len(names)} arguments, got {len(values)}")
        return tuple.__new__(cls, values)

    def getnewargs(self):
        return tuple(self)

    namespace: dict[str, Any] = {
        "__slots__": (), "__module__": module or "policy", "__new__": new, "__repr__": representation,
        "__getnewargs__": getnewargs, "__match_args__": names, "_fields": names, "_field_defaults": field_defaults,
        "_asdict": as_dict, "_replace": replaced, "_make": classmethod(make),
    }
    for index, name in enumerate(names):
        namespace[name] = property(operator.itemgetter(index), doc=f"Alias for field number {index}")
    for key, value in (extra or {}).items():
        if key not in names and key not in ("__annotations__", "__qualname__", "__module__", "__orig_bases__"):
            namespace.setdefault(key, value)
    return type(typename, (tuple,), namespace)


def namedtuple(typename: str, field_names: Any, *, rename: bool = False, defaults: Any = None,
               module: str | None = None) -> type:
    """A tuple subclass with named fields (as :func:`collections.namedtuple`)."""
    names = _field_names(typename, field_names, rename)
    return _build_namedtuple(typename, names, tuple(defaults or ()), module)


class _NamedTupleMeta(type):
    def __new__(mcls, typename, bases, namespace):
        if namespace.get("_root"):
            return type.__new__(mcls, typename, bases, namespace)
        annotations = namespace.get("__annotations__", {})
        names = _field_names(typename, list(annotations), False)
        defaults = []
        for name in names:
            if name in namespace:
                defaults.append(namespace[name])
            elif defaults:
                raise TypeError(f"non-default namedtuple field {name} cannot follow default field")
        extra = {key: value for key, value in namespace.items() if key not in names}
        built = _build_namedtuple(typename, names, tuple(defaults), namespace.get("__module__"), extra)
        return built


class _NamedTupleBase(metaclass=_NamedTupleMeta):
    _root = True


def NamedTuple(typename: str, fields: Any = None, /, **kwargs: Any) -> type:  # noqa: N802 - typing's name
    """Typed named tuples (as :class:`typing.NamedTuple`): ``class P(NamedTuple): x: int`` or
    ``NamedTuple("P", [("x", int)])``."""
    pairs = list(fields or ()) + list(kwargs.items())
    return _build_namedtuple(typename, _field_names(typename, [name for name, _ in pairs], False), (), None)


def _mro_entries(bases: tuple) -> tuple:
    return (_NamedTupleBase,)


NamedTuple.__mro_entries__ = _mro_entries  # type: ignore[attr-defined] - `class P(NamedTuple)` (set at load)
