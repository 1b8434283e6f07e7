"""Every configuration key the README or config.toml names is one that start-up accepts.

The keys are read out of the documents themselves (`section.key`, `BETTING_SECTION__KEY`,
a bare key named in backticks, and every key of config.toml), and each is loaded on its own,
with a value other than its default, from the environment and from a file: a key that is
documented but refused, or accepted but not applied, fails here.
"""

from __future__ import annotations

import dataclasses
import enum
import json
import re
import tomllib
from pathlib import Path
from typing import Any

import pytest

from betting import config

REPO = Path(__file__).resolve().parents[2]
SECTIONS = {f.name: f.type for f in dataclasses.fields(config.Settings)}
_SECTION = "|".join(SECTIONS)
DOTTED = re.compile(rf"\b({_SECTION})\.([a-z][a-z0-9_]*)\b")
ENVIRONMENT = re.compile(r"\bBETTING_([A-Z][A-Z0-9_]*?)__([A-Z][A-Z0-9_]*)\b")
BARE = re.compile(r"`([a-z][a-z0-9]*(?:_[a-z0-9]+)+)`")
NOT_KEYS = {"py", "toml", "md"}  # file names such as `engine.py`, not section.key


def _section_fields() -> dict[str, dict[str, dataclasses.Field[Any]]]:
    settings = config.Settings()
    return {
        name: {f.name: f for f in dataclasses.fields(getattr(settings, name))} for name in SECTIONS
    }


FIELDS = _section_fields()


def documented_keys() -> list[tuple[str, str]]:
    readme = (REPO / "README.md").read_text()
    shipped = (REPO / "config.toml").read_text()
    keys: set[tuple[str, str]] = set()
    for text in (readme, shipped):
        keys |= {(s, k) for s, k in DOTTED.findall(text) if k not in NOT_KEYS}
        keys |= {(s.lower(), k.lower()) for s, k in ENVIRONMENT.findall(text)}
        for bare in BARE.findall(text):  # `late_window_ms`: a key of whichever section has it
            keys |= {(section, bare) for section, fields in FIELDS.items() if bare in fields}
    for section, table in tomllib.loads(shipped).items():
        keys |= {(section, key) for key in table}
    return sorted(keys)


KEYS = documented_keys()


def test_the_documents_name_the_keys_this_test_is_about() -> None:
    # The extraction itself must work, or every parametrized case below would vanish.
    for expected in [
        ("risk", "in_play_bet_delay_ms"),
        ("risk", "late_window_ms"),
        ("kafka", "instance_id"),
        ("server", "port"),
        ("admin", "token"),
    ]:
        assert expected in KEYS
    assert len(KEYS) >= 60  # config.toml alone has more than that
    assert ("engine", "py") not in KEYS


CHOICES = {
    "security_protocol": config.SECURITY_PROTOCOLS,
    "sasl_mechanism": config.SASL_MECHANISMS,
}


def other_value(field: dataclasses.Field[Any], default: Any, folder: Path) -> Any:
    """A valid value other than the default, so a key that is accepted but ignored shows."""
    if field.name.endswith("_file"):  # a path that must exist: one made for the test
        path = folder / f"{field.name}.pem"
        path.write_text("")
        return str(path)
    if isinstance(default, bool):
        return not default
    if isinstance(default, enum.Enum):
        return next(member for member in type(default) if member != default)
    if isinstance(default, int):
        _low, high = field.metadata.get("range", (None, None))
        return default + 1 if high is None or default + 1 <= high else default - 1
    assert isinstance(default, str), field.name
    choices = CHOICES.get(field.name)
    if choices is not None:  # a string from a fixed set: another member of it
        return next(choice for choice in choices if choice != default)
    return default + "x" if default else "x"


def as_environment(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value.value if isinstance(value, enum.Enum) else value)


def as_toml(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, enum.Enum):
        return json.dumps(value.value)
    return json.dumps(value)


def documented(section: str, key: str) -> tuple[dataclasses.Field[Any], Any]:
    fields = FIELDS.get(section)
    assert fields is not None and key in fields, f"{section}.{key} is documented but not a key"
    return fields[key], getattr(getattr(config.Settings(), section), key)


@pytest.mark.parametrize(("section", "key"), KEYS, ids=[f"{s}.{k}" for s, k in KEYS])
def test_a_documented_key_loads_from_the_environment(
    tmp_path: Path, section: str, key: str
) -> None:
    field, default = documented(section, key)
    value = other_value(field, default, tmp_path)
    name = f"BETTING_{section.upper()}__{key.upper()}"
    settings = config.load(tmp_path / "absent.toml", environ={name: as_environment(value)})
    assert getattr(getattr(settings, section), key) == value


@pytest.mark.parametrize(("section", "key"), KEYS, ids=[f"{s}.{k}" for s, k in KEYS])
def test_a_documented_key_loads_from_a_file(tmp_path: Path, section: str, key: str) -> None:
    field, default = documented(section, key)
    value = other_value(field, default, tmp_path)
    path = tmp_path / "config.toml"
    path.write_text(f"[{section}]\n{key} = {as_toml(value)}\n")
    settings = config.load(path, environ={})
    assert getattr(getattr(settings, section), key) == value


def test_the_in_play_bet_delay_reaches_the_risk_rules() -> None:
    settings = config.load(
        REPO / "config.toml", environ={"BETTING_RISK__IN_PLAY_BET_DELAY_MS": "0"}
    )
    assert settings.risk.params().in_play_bet_delay_ms == 0
    with pytest.raises(config.ConfigError, match=r"risk.in_play_bet_delay_ms: expected an integer"):
        config.load(REPO / "config.toml", environ={"BETTING_RISK__IN_PLAY_BET_DELAY_MS": "60001"})
