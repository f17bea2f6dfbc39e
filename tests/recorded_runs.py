"""Run folders written through the real recorder (RecordingSession + synthetic runtime messages), with
the labels an operator session leaves: kept attempts, discarded ones, failed and aborted demonstrations."""

from __future__ import annotations

from pathlib import Path

import h5py

from recorder.recording_session import RecordingSession
from recorder.synthetic_episodes import episode_messages

DEMO = dict(kind="demo", takeover=None)
# round 0: 3 good demos, a discarded one, a failed one, an aborted one; round 1: rollouts, one discarded.
SESSION = {
    0: [DEMO | dict(steps=15), DEMO | dict(steps=16, outcome="discard"), DEMO | dict(steps=17),
        DEMO | dict(steps=18, outcome="failure"), DEMO | dict(steps=19), DEMO | dict(steps=20, outcome="abort")],
    1: [dict(steps=21, takeover=(3, 9)), dict(steps=22, takeover=(2, 8), outcome="failure"),
        dict(steps=23, takeover=(4, 10), outcome="discard")],
}
KEPT = {0: [0, 2, 4], 1: [0, 1]}  # what training takes by default
LEFT_OUT = {0: {1: "discard", 3: "failure", 5: "aborted"}, 1: {2: "discard"}}


def record_run(root: Path, session: dict[int, list[dict]] = SESSION) -> Path:
    for r, episodes in session.items():
        s = RecordingSession(root / f"round_{r}" / "data")
        for i, spec in enumerate(episodes):
            spec = dict(spec)
            for m in episode_messages(spec.pop("steps"), episode_id=f"{r}-{i}", seed=100 * r + i, **spec):
                s.handle(m)
        s.close()
    return root


def episode_file(root: Path, r: int, i: int) -> Path:
    return root / f"round_{r}" / "data" / f"ep_{i:04d}.hdf5"


def steps(r: int, i: int, session: dict[int, list[dict]] = SESSION) -> int:
    return session[r][i]["steps"]


def unlabel(path: Path, success: bool) -> None:
    """Make an episode look like one written before labels existed (no ``label`` attribute)."""
    with h5py.File(path, "r+") as f:
        g = f["data/demo_0"]
        del g.attrs["label"]
        g.attrs["success"] = success
