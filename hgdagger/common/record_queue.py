"""The bounded hand-off from the control loop to whatever records its steps (an in-process writer
thread or a ZeroMQ forwarder). It lives with the shared types because both the runtime (producer)
and the recorder (consumer) use it, and neither may import the other."""

from __future__ import annotations

import queue

from hgdagger.common import wire


class RecordQueue:
    """Bounded hand-off to the recorder. Drop policy: when full, the *new* record is dropped and
    counted (the loop never waits; records already queued keep their order; the gap shows up as
    missing step numbers)."""

    def __init__(self, maxsize: int = 2048) -> None:
        self._q: queue.Queue[wire.Message] = queue.Queue(maxsize=maxsize)
        self.dropped = 0

    def put(self, msg: wire.Message) -> bool:
        try:
            self._q.put_nowait(msg)
            return True
        except queue.Full:
            self.dropped += 1
            return False

    def get(self, timeout: float | None = None) -> wire.Message | None:
        try:
            return self._q.get(timeout=timeout)
        except queue.Empty:
            return None

    def size(self) -> int:
        """Records waiting now (approximate while another thread works on the queue)."""
        return self._q.qsize()

    def empty(self) -> bool:
        """Nothing queued right now (a consumer finishing up drains until this holds)."""
        return self._q.empty()

    def drain(self) -> list[wire.Message]:
        """Everything queued now, without waiting."""
        out = []
        while True:
            try:
                out.append(self._q.get_nowait())
            except queue.Empty:
                return out
