"""Readiness: each task reports whether it can do its work, and why not."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Readiness:
    _reasons: dict[str, str] = field(default_factory=dict)

    def not_ready(self, component: str, reason: str) -> None:
        self._reasons[component] = reason

    def ready(self, component: str) -> None:
        self._reasons.pop(component, None)

    @property
    def is_ready(self) -> bool:
        return not self._reasons

    def reasons(self) -> dict[str, str]:
        return dict(self._reasons)
