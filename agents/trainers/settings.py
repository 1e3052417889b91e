"""Typed trainer configs: one pydantic model per trainer, checked the same way everywhere.

Every trainer's hyper-parameters (:class:`~dilemmazoo.agents.trainers.llm_trainer.LLMTrainerConfig`,
:class:`~dilemmazoo.agents.trainers.grpo.GRPOBaselineConfig`,
:class:`~dilemmazoo.agents.trainers.ippo.IPPOConfig`) subclass :class:`TrainerSettings`, and their
fields use the constrained types below, so a learning rate is finite and positive, a seed is a
non-negative integer and a count at least one in every trainer alike (``lr: .inf`` and ``seed: -3``
fail for each). Unknown keys are errors. A bad value raises :class:`TrainerConfigError` (a
``ValueError``) whose message has one line per bad field, each naming it::

    LLMTrainerConfig: 2 bad fields
      lr must be a finite number, got inf
      seed must be an integer >= 0, got -3

The models are frozen; :meth:`TrainerSettings.replace` makes a changed copy, checked again.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, ValidationError

__all__ = ["Count", "FiniteNumber", "LocalModel", "NonEmptyText", "NonNegativeCount", "NonNegativeNumber",
           "PositiveNumber", "Probability", "Seed",
           "TrainerConfigError", "TrainerSettings", "describe_errors"]


class TrainerConfigError(ValueError):
    """A trainer config that cannot train; the message names each bad field (``validation``:
    pydantic's error, when it came from one)."""

    def __init__(self, message: str, validation: ValidationError | None = None):
        super().__init__(message)
        self.validation = validation


def _integer(value: Any) -> Any:
    # YAML's true is not a count; pydantic's lax mode would read it as 1
    if isinstance(value, bool):
        raise ValueError(f"must be an integer, got {value!r}")
    return value


#: an integer >= 1 (iterations, batch sizes, LoRA rank, ...)
Count = Annotated[int, BeforeValidator(_integer), Field(ge=1)]
#: an integer >= 0
NonNegativeCount = Annotated[int, BeforeValidator(_integer), Field(ge=0)]
#: the one seed of a run: an integer >= 0 (numpy's generators take no negative seed)
Seed = Annotated[int, BeforeValidator(_integer), Field(ge=0)]
#: a finite number > 0 (learning rates, temperatures, clip ranges, ...)
PositiveNumber = Annotated[float, Field(gt=0.0, allow_inf_nan=False)]
#: a finite number >= 0 (coefficients that may be switched off)
NonNegativeNumber = Annotated[float, Field(ge=0.0, allow_inf_nan=False)]
#: a probability, in [0, 1]
Probability = Annotated[float, Field(ge=0.0, le=1.0, allow_inf_nan=False)]
#: any finite number (a threshold, a scale that may be negative)
FiniteNumber = Annotated[float, Field(allow_inf_nan=False)]
#: a name that must be given (a world, an opponent, a device)
NonEmptyText = Annotated[str, Field(min_length=1)]


def _local_model(model: str) -> str:
    if not (model == "embedded" or model.startswith("hf:")):
        raise ValueError(f"model must be 'embedded' or 'hf:PATH'; got {model!r}")
    return model


#: the model a trainer fine-tunes: ``embedded`` or ``hf:PATH`` (local files only)
LocalModel = Annotated[str, AfterValidator(_local_model)]


def _shown(value: Any, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


_TYPE_TAGS = ("str", "int", "float", "bool", "none", "function-after", "function-before")


def _problem(item: dict[str, Any], fields: list[str]) -> str:
    """One error of pydantic as ``<field> must be ..., got <value>``."""
    kind, context, given = item["type"], item.get("ctx") or {}, item.get("input")
    # a union's errors name its branch after the field (``lora_target_modules.list[str]``): not a key
    name = ".".join(str(part) for i, part in enumerate(item["loc"])
                    if i == 0 or not (isinstance(part, str) and (part in _TYPE_TAGS or "[" in part)))
    got = f", got {_shown(given)}"
    if kind in ("extra_forbidden", "unexpected_keyword_argument"):
        return f"{name}: unknown field; the fields are: {', '.join(fields)}"
    if kind == "missing":
        return f"{name}: missing"
    integer = isinstance(given, int) and not isinstance(given, bool)
    what = "an integer" if integer else "a number"
    bounds = {"greater_than": "> {gt}", "greater_than_equal": ">= {ge}", "less_than": "< {lt}",
              "less_than_equal": "<= {le}"}
    if kind in bounds:
        return f"{name} must be {what} {bounds[kind].format(**context)}{got}"
    if kind == "finite_number":
        return f"{name} must be a finite number{got}"
    if kind == "literal_error":
        return f"{name} must be one of {context.get('expected', '')}{got}"
    if kind.startswith("int_"):
        return f"{name} must be an integer{got}"
    if kind.startswith("float_"):
        return f"{name} must be a number{got}"
    if kind.startswith("bool_"):
        return f"{name} must be true or false{got}"
    if kind in ("dict_type", "model_type"):
        return f"{name} must be a mapping{got}"
    if kind in ("string_type", "list_type"):
        return f"{name} must be a {'string' if kind == 'string_type' else 'list'}{got}"
    if kind == "string_too_short":
        return f"{name} must not be empty{got}"
    message = str(item["msg"]).removeprefix("Value error, ")
    if not name:  # a check across fields: its message names them
        return message
    if message.startswith(name):
        return message
    return f"{name} {message}" if message.startswith("must ") else f"{name}: {message}{got}"


def describe_errors(error: ValidationError, model: type[BaseModel], prefix: str = "") -> str:
    """The message of a :class:`TrainerConfigError`: the model's name, then one line per bad field
    (``prefix`` goes before each field's name, e.g. ``trainer.``)."""
    fields = sorted(model.model_fields)
    seen, lines = set(), []
    for item in error.errors():
        field = item["loc"][:1]
        if field and field in seen:  # a union (``str | list[str]``) reports each branch: one line is enough
            continue
        seen.add(field)
        problem = _problem(item, fields)
        lines.append(prefix + problem if field else problem)
    count = f"{len(lines)} bad field{'s' if len(lines) > 1 else ''}"
    return f"{model.__name__}: {count}\n" + "\n".join(f"  {line}" for line in lines)


class TrainerSettings(BaseModel):
    """Base of the trainer configs: frozen, unknown keys refused, errors as :class:`TrainerConfigError`.

    Build one with keywords (``LLMTrainerConfig(lr=1e-4)``) or from a mapping with
    :meth:`from_dict`; both check every field.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=True)

    def __init__(self, **data: Any) -> None:
        try:
            super().__init__(**data)
        except ValidationError as error:
            raise TrainerConfigError(describe_errors(error, type(self)), error) from None

    @classmethod
    def from_dict(cls, data: dict[str, Any], prefix: str = ""):
        """The config of a mapping (a training file's ``trainer:``, a stored ``config.json``);
        ``prefix`` names where the mapping sits in the file (``trainer.``) in the messages."""
        if not isinstance(data, dict):
            raise TrainerConfigError(f"{prefix.rstrip('.') or cls.__name__} must be a mapping of fields, "
                                     f"got {_shown(data)}")
        try:
            return cls(**{str(key): value for key, value in data.items()})
        except TrainerConfigError as error:
            if error.validation is None or not prefix:
                raise
            raise TrainerConfigError(describe_errors(error.validation, cls, prefix), error.validation) from None

    def replace(self, **changes: Any):
        """A copy with ``changes``, checked again (``model_copy`` would not check them)."""
        return type(self)(**{**self.to_dict(), **changes})

    def to_dict(self) -> dict[str, Any]:
        """The fields as plain Python data (``config.json``, checkpoints)."""
        return self.model_dump(mode="python")
