"""Domain errors. The API maps each class to an HTTP status in one table (api/errors.py)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Problem:
    """One thing wrong with the input: where (a field path, row or feature) and why."""

    field: str
    reason: str
    reason_zh: str | None = None

    def as_dict(self) -> dict[str, str]:
        out = {"field": self.field, "reason": self.reason}
        if self.reason_zh:
            out["reason_zh"] = self.reason_zh
        return out


class RiskmapError(Exception):
    """Base of every error riskmap raises on purpose; its message is safe to show a user."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidInput(RiskmapError):
    """The input breaks a rule; nothing was written."""

    def __init__(self, problems: list[Problem] | Problem | str, field_name: str | None = None) -> None:
        if isinstance(problems, str):
            problems = [Problem(field_name or "body", problems)]
        elif isinstance(problems, Problem):
            problems = [problems]
        self.problems = problems
        super().__init__("; ".join(f"{p.field}: {p.reason}" for p in problems))

    @classmethod
    def one(cls, field_name: str, reason: str, reason_zh: str | None = None) -> InvalidInput:
        return cls([Problem(field_name, reason, reason_zh)])


class NotFound(RiskmapError):
    """The thing asked for does not exist (or the caller may not know it exists)."""


class Conflict(RiskmapError):
    """The write clashes with what is stored (a duplicate natural key, a stale version); `problems`
    names the field (``If-Match`` for a stale version, ``properties.credit_code`` for a duplicate)."""

    def __init__(self, message: str, field_name: str | None = None, reason_zh: str | None = None) -> None:
        self.problems = [Problem(field_name, message, reason_zh)] if field_name else []
        super().__init__(f"{field_name}: {message}" if field_name else message)


class PreconditionFailed(Conflict):
    """A conditional write whose `If-Match` names no current version of the row (HTTP 412, RFC 9110)."""


class PreconditionRequired(RiskmapError):
    """A write that must be conditional came without `If-Match` (HTTP 428, RFC 6585)."""

    def __init__(self, message: str, field_name: str, reason_zh: str) -> None:
        self.problems = [Problem(field_name, message, reason_zh)]
        super().__init__(f"{field_name}: {message}")


class TooLarge(RiskmapError):
    """The upload (or what it expands to) is larger than the configured limit (HTTP 413)."""


class DatabaseUnavailable(RiskmapError):
    """The database cannot be reached right now."""


class SetupError(RiskmapError):
    """The machine lacks something riskmap needs; the message says what to install or set."""


class RateLimited(RiskmapError):
    """Too many attempts (failed sign-ins) in a while: try again after `retry_after` seconds (HTTP 429)."""

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after
