"""Prometheus text checked by the reference parser, for the unit and end-to-end tests."""

from __future__ import annotations

from collections import Counter

from prometheus_client.parser import text_string_to_metric_families


def check_exposition(text: str) -> dict[str, list[tuple[dict[str, str], float]]]:
    """Parse with the reference parser; every family has exactly one HELP and one TYPE line,
    its samples follow them without another family in between. Lines end at "\n" only, as
    the format says (str.splitlines would also split at the separators a label may hold)."""
    families = {
        family.name: [(sample.labels, sample.value) for sample in family.samples]
        for family in text_string_to_metric_families(text)
    }
    helps = Counter(line.split()[2] for line in text.split("\n") if line.startswith("# HELP "))
    types = Counter(line.split()[2] for line in text.split("\n") if line.startswith("# TYPE "))
    assert helps == types and set(helps.values()) == {1}, (helps, types)
    current = None
    seen: set[str] = set()
    for line in text.split("\n"):
        if line.startswith("# TYPE "):
            current = line.split()[2]
            assert current not in seen
            seen.add(current)
        elif line and not line.startswith("#"):
            name = line.split("{")[0].split(" ")[0]
            assert current is not None and name.startswith(current), (line, current)
    return families
