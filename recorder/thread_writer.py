"""In-process recording: a thread drains the runtime's bounded ``RecordQueue`` into a session.

The control loop only ever calls ``RecordQueue.put`` (non-blocking, drop-new-and-count when full),
so a slow disk shows up as ``RecordQueue.dropped``, never as a late tick. After a fatal write error
the thread keeps draining (so the queue never fills up behind a dead writer) and counts what it
refuses; ``error`` says why recording stopped.
"""

from __future__ import annotations

import threading
from pathlib import Path

from recorder.recording_session import RecordingSession

from hgdagger.common.record_queue import RecordQueue


class QueueWriter:
    """Starts a thread writing everything from ``records`` into ``folder`` (see RecordingSession)."""

    def __init__(self, records: RecordQueue, folder: Path, **session_kw) -> None:
        self.records = records
        self.session = RecordingSession(folder, **session_kw)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="hgd-recorder", daemon=True)
        self._thread.start()

    @property
    def stats(self):
        return self.session.stats

    @property
    def error(self) -> str:
        return self.session.stats.error

    def _run(self) -> None:
        while not self._stop.is_set() or not self.records.empty():
            msg = self.records.get(timeout=0.05)
            if msg is not None:
                self.session.handle(msg)
            self.session.tick()

    def close(self, timeout: float = 30.0) -> None:
        """Write what is queued, finish an open episode as 'aborted', release the folder."""
        self._stop.set()
        self._thread.join(timeout)
        self.session.close()
