"""Per-target settings: a declared pydantic-settings model per target, resolved in ONE place.

Order, highest first: explicit (CLI options, ``Target(..., key=value)``, ``configure``) > saved
(what the running cluster was started with, from the state dir) > environment > default.
``prefer_env`` (used by the compose target's ``up``: starting is when a user means to change
settings) puts the environment above the saved values.

A target declares ``settings_model = MySettings``; the CLI reads the model's fields to know which
options a target accepts (no duck typing), and every value is validated once, here.
"""
from __future__ import annotations

from typing import Any, ClassVar, TypeVar

from pydantic import NonNegativeFloat, PositiveFloat, PositiveInt, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

from hyperspark.ops.model import OpsError

S = TypeVar("S", bound="TargetSettings")


class TargetSettings(BaseSettings):
    """Base of every target's settings model; fields name their env var with ``validation_alias``."""

    # fields without an alias read HYPERSPARK_<FIELD> (never a bare variable such as HDFS)
    model_config = SettingsConfigDict(extra="ignore", populate_by_name=True, validate_default=False,
                                      env_prefix="HYPERSPARK_")

    #: settings a target refuses with a reason (key -> message), instead of "cannot be set"
    refused: ClassVar[dict[str, str]] = {}

    @classmethod
    def settable(cls) -> set[str]:
        return set(cls.model_fields)

    @classmethod
    def check_explicit(cls, target: str, values: dict[str, Any]) -> None:
        """Refuse settings this target does not have (OpsError, one line)."""
        for key, value in values.items():
            if value is None:
                continue
            if key in cls.refused:
                raise OpsError(cls.refused[key])
            if key not in cls.model_fields:
                raise OpsError(f"unknown setting {key!r} for the {target} target")

    @classmethod
    def resolve(cls: type[S], explicit: dict[str, Any] | None = None, saved: dict[str, Any] | None = None,
                prefer_env: bool = False) -> S:
        explicit = {k: v for k, v in (explicit or {}).items() if v is not None}
        saved = {k: v for k, v in (saved or {}).items() if v is not None and cls._known(k)}
        try:
            if prefer_env:
                from_env = cls(**explicit)  # explicit > env > default; fields_set holds env and explicit
                return cls(**{**saved, **from_env.model_dump(include=from_env.model_fields_set, by_alias=False)})
            return cls(**{**saved, **explicit})  # init values beat the environment in pydantic-settings
        except ValidationError as exc:
            raise OpsError(cls._one_line(exc, explicit, {} if prefer_env else saved)) from None

    @classmethod
    def _known(cls, key: str) -> bool:
        return key in cls.model_fields or key in cls._aliases()

    @classmethod
    def _aliases(cls) -> dict[str, str]:
        """alias (env var / saved key) -> field name"""
        out = {}
        for name, info in cls.model_fields.items():
            alias = info.validation_alias
            for choice in getattr(alias, "choices", [alias]):
                if isinstance(choice, str):
                    out[choice] = name
        return out

    @classmethod
    def env_name(cls, field: str) -> str:
        return next((a for a, f in cls._aliases().items() if f == field and a != field), field)

    @classmethod
    def _one_line(cls, exc: ValidationError, explicit: dict[str, Any], saved: dict[str, Any] | None = None) -> str:
        """Names where the bad value came from: the option, the saved state (a hand-edited state file), or
        the environment variable."""
        err = exc.errors()[0]
        loc = str(err["loc"][0]) if err["loc"] else "?"
        field = cls._aliases().get(loc, loc)
        from_saved = field not in explicit and any(cls._aliases().get(k, k) == field for k in saved or {})
        name = field if field in explicit else f"saved setting {field}" if from_saved else cls.env_name(field)
        what = "is not a port number" if field.endswith("port") else f"is invalid: {err['msg']}"
        tail = " (the state dir's saved settings: fix or remove that file)" if from_saved else ""
        return f"{name}={err.get('input')!r} {what}{tail}"

    def explicit_env(self) -> dict[str, str]:
        """The set fields as their env-var names with string values (what compose is given)."""
        out = {}
        for name in self.model_fields:
            value = getattr(self, name)
            if value is not None:
                out[self.env_name(name)] = str(value)
        return out


class EnvNumbers(BaseSettings):
    """Every number the kit reads from a ``HYPERSPARK_*`` environment variable (timeouts, retries, counts),
    declared once: :func:`check_environment` validates them before a command imports the code that reads
    them, so a malformed one is ONE line naming the variable (exit 2), even for ``status``."""

    model_config = SettingsConfigDict(extra="ignore", env_prefix="HYPERSPARK_")

    start_timeout: PositiveFloat | None = None  # daemons' start-up (targets/local/daemons.py)
    decommission_timeout: PositiveFloat | None = None
    connect_start_timeout: PositiveFloat | None = None
    warm_start_timeout: PositiveFloat | None = None
    upload_retry_s: NonNegativeFloat | None = None  # ops/storage.py
    run_lease_s: PositiveFloat | None = None  # job/results.py
    handshake_timeout: PositiveFloat | None = None  # job/listener.py
    hdfs_datanodes: PositiveInt | None = None
    hdfs_replication: PositiveInt | None = None


def check_environment() -> None:
    """Raise OpsError (one line) for a ``HYPERSPARK_*`` number that does not parse."""
    try:
        EnvNumbers()
    except ValidationError as exc:
        err = exc.errors()[0]
        name = f"HYPERSPARK_{str(err['loc'][0]).upper()}" if err["loc"] else "HYPERSPARK_*"
        raise EnvSettingError(f"environment variable {name}={err.get('input')!r}: {err['msg'].lower()}") from None


class EnvSettingError(OpsError):
    """A malformed ``HYPERSPARK_*`` environment variable (the CLI's exit 2: the user's input)."""
