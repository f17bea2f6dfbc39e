"""Which recorded episodes are data: the one rule every reader that trains, exports or counts applies.

An operator's label decides. By default a round trains on successful demonstrations and on every
rollout (HG-DAgger learns from the human-controlled steps of rollouts, and a rollout that failed
still carries valid corrections). Left out unless asked for, by name (`--include` in hgd-train and
hgd-export, ``include`` in the loop's settings):

- ``failure``: demonstrations the operator (or the task check) marked as failed;
- ``aborted``: demonstrations cut off (a recorder stopped or crashed mid-episode);
- ``discard``: attempts the operator threw away ("discard and redo"), of any kind. They stay on disk
  for review; nothing trains on them and no total counts them unless ``discard`` is included.

Episodes written before labels existed (no ``label`` attribute) count as they always did.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any, Iterable, Mapping

FAILURE, ABORTED, DISCARD = "failure", "aborted", "discard"
INCLUDABLE = (FAILURE, ABORTED, DISCARD)
"""The vocabulary of `--include`: the labels that are left out by default."""
DATA = (FAILURE, ABORTED)
"""Included, everything recorded is data except discarded attempts: what totals count."""

# What each reason is called in a summary line, singular and plural.
_WORDS = {DISCARD: ("discarded", "discarded"), FAILURE: ("failed demonstration", "failed demonstrations"),
          ABORTED: ("aborted demonstration", "aborted demonstrations")}


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def check_include(include: Iterable[str]) -> tuple[str, ...]:
    """`include` as a sorted tuple; ValueError naming the vocabulary for anything else."""
    names = tuple(sorted(set(include)))
    unknown = [n for n in names if n not in INCLUDABLE]
    if unknown:
        raise ValueError(f"cannot include {unknown}: choose from {', '.join(INCLUDABLE)}")
    return names


def left_out_because(kind: str | None, label: str | None, include: Iterable[str] = ()) -> str | None:
    """Why an episode of this kind and label is not data (one of INCLUDABLE), or None when it is.

    kind: demo | rollout (None: a demo, as the reader assumes); label: None for files without one."""
    if label is None:
        return None
    include = set(include)
    if label == DISCARD:
        return None if DISCARD in include else DISCARD
    if (kind or "demo") == "demo" and label in (FAILURE, ABORTED):
        return None if label in include else label
    return None


def left_out_because_attrs(attrs: Mapping[str, Any], include: Iterable[str] = ()) -> str | None:
    """`left_out_because` for an episode group's attributes (``kind``, ``label``)."""
    label = _text(attrs["label"]) if "label" in attrs else None
    return left_out_because(_text(attrs.get("kind", "demo")), label, include)


@dataclass
class LeftOut:
    """One episode a selection did not take, and why (a name of INCLUDABLE)."""

    where: str  # file, or file:group for files holding several episodes
    reason: str


def describe(reasons: Iterable[str], hint: str = "--include {} to use them") -> str:
    """'left out: 3 discarded, 1 failed demonstration (--include discard failure to use them)', or ''.
    `hint`: how to take them, {} standing for the labels ('' for no hint)."""
    counts = Counter(reasons)
    if not counts:
        return ""
    order = [r for r in (DISCARD, FAILURE, ABORTED) if counts[r]]
    parts = ", ".join(f"{counts[r]} {_WORDS[r][counts[r] != 1]}" for r in order)
    return f"left out: {parts}" + (f" ({hint.format(' '.join(order))})" if hint else "")
