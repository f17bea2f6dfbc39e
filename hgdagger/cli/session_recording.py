"""Recording for the session commands (hgd-collect, hgd-run, hgd-rehearse): on unless the user says
otherwise, and an episode is reported saved only when the recorder has said so.

Three ways, one set of flags on every session command:
- default: the command starts its own recorder process (``hgd-record``, on a private ipc endpoint)
  writing into ``--out`` (default: the run folder's next round for this robot). A separate process,
  so HDF5 writes never share the control loop's interpreter, and a session killed with ``kill -9``
  still leaves its last episode closed (the recorder sees its parent go and finishes it as aborted).
- ``--record-to ENDPOINT``: a recorder already running (another machine, say). The session asks it
  first and refuses to start when nobody answers.
- ``--no-record``: nothing is kept, said once at the start.

``--rerun FILE.rrd`` / ``--rerun-connect`` (any of the three ways, off by default) also log the session
to the rerun viewer, from the same records (``hgdagger.cli.session_rerun``).
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from hgdagger.cli.arguments import add_image_storage, endpoint, existing_file
from hgdagger.cli.session_rerun import RerunTap, add_rerun_arguments, rerun_target


class RecordingError(Exception):
    """Recording cannot start as asked; the message is for the user, one line."""


def add_record_arguments(p, out_default: str) -> None:
    """--out, --record-to, --no-record and the recorder's CURVE keys, the same on every session command."""
    g = p.add_argument_group("recording (on by default: every step of every episode goes to HDF5)")
    g.add_argument("--out", type=Path, default=None,
                   help=f"episode folder this session records into, with its own recorder process (default: {out_default})")
    g.add_argument("--record-to", type=endpoint, default=None,
                   help="send every step to a recorder already running there (hgd-record; e.g. tcp://127.0.0.1:5560) "
                   "instead of starting one; the session refuses to start if it does not answer")
    g.add_argument("--no-record", action="store_true", help="record nothing (a rehearsal, a demo to an audience)")
    g.add_argument("--record-curve-server", type=existing_file, default=None,
                   help="with --record-to: the recorder's public certificate (its stream is then encrypted; see hgd-record --help)")
    g.add_argument("--record-curve-secret", type=existing_file, default=None, help="with --record-to: this robot's secret certificate")
    add_image_storage(g)  # for this session's own recorder; a running one (--record-to) stores as it was told
    add_rerun_arguments(p)


def next_round_folder(robot_name: str, kind: str, runs: Path = Path("runs")) -> Path:
    """Where a session records by default: demonstrations into round 0 of ``runs/<robot>``;
    rollouts of round r's policy into round r + 1 (r: the newest round with a checkpoint)."""
    from recorder import run_folder

    run = runs / robot_name
    if kind == "demo":
        return run_folder.data_dir(run, 0)
    trained = [r for r in run_folder.list_rounds(run) if run_folder.checkpoint_path(run, r).exists()] if run.is_dir() else []
    return run_folder.data_dir(run, max(trained, default=0) + 1)


@dataclass
class SessionRecording:
    """The records queue the runtime fills (None: not recording) and the recorder behind it."""

    records: object | None = None  # hgdagger.common.record_queue.RecordQueue, or the RerunTap in front of it
    forwarder: object | None = None  # teleop.record_sink.RecordForwarder
    rerun: RerunTap | None = None  # --rerun: the same records, to the rerun viewer
    where: str = "not recording (--no-record)"
    folder: str = ""
    ack_timeout_s: float = 10.0
    _child: subprocess.Popen | None = None
    _tmp: str | None = None

    def saved(self, episode_id: str, discarded: bool = False) -> tuple[bool, str]:
        """(saved?, a line for the operator) once the recorder has answered this episode's end; a
        discarded attempt's file is named as kept aside."""
        if self.forwarder is None:
            return False, "not recorded (--no-record)"
        ack = self.forwarder.wait_saved(episode_id, self.ack_timeout_s)
        if ack is None:
            return False, f"NOT CONFIRMED SAVED: the recorder did not answer within {self.ack_timeout_s:g} s ({self.where})"
        if ack.error or not ack.file:
            return False, f"NOT SAVED: {ack.error or 'the recorder wrote no file'}"
        where = "kept aside, never trained on:" if discarded else "saved"
        return True, f"{where} {ack.file} ({ack.steps} steps)"

    def close(self) -> str:
        """Send what is queued, stop our own recorder; a line on what was left behind, if anything."""
        note = ""
        if self.forwarder is not None:
            self.forwarder.close()
            lost = self.forwarder.dropped + (self.records.dropped if self.records is not None else 0)
            if lost:
                note = f"{lost} records could not be delivered to the recorder"
        if self.rerun is not None:
            note = "; ".join(filter(None, [note, self.rerun.close()]))
            self.rerun = None
        if self._child is not None:
            if self._child.poll() is None:
                self._child.send_signal(signal.SIGINT)  # it closes an open episode as 'aborted'
            try:
                self._child.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self._child.kill()
                self._child.wait()
        if self._tmp:
            shutil.rmtree(self._tmp, ignore_errors=True)
        return note


    def watch(self, rt) -> None:
        """Let the rerun log read the runtime's doubt gauge (not part of the step records)."""
        if self.rerun is not None:
            self.rerun.watch(rt.console_status)


def open_recording(args, default_out: Path, joint_names: tuple[str, ...] = ()) -> SessionRecording:
    """Start recording as the flags say, and the rerun log with it when asked (RecordingError with
    the reason if either cannot). ``joint_names`` name the rerun log's joint plots."""
    try:
        rerun = rerun_target(args)
        if rerun is not None:
            from recorder.rerun_log import import_rerun

            import_rerun()  # not installed: say so before a recorder is started
    except (ValueError, RuntimeError) as exc:
        raise RecordingError(str(exc)) from None
    rec = _open_recorder(args, default_out)
    if rerun is not None:
        from recorder.rerun_log import RerunLog

        try:
            log = RerunLog(rerun, joint_names, name=f"session into {rec.folder}" if rec.folder else "session (not recorded)")
        except Exception as exc:  # a viewer that cannot be spawned, a file that cannot be opened
            rec.close()
            raise RecordingError(f"cannot log to rerun ({rerun.describe()}): {exc}") from None
        rec.rerun = rec.records = RerunTap(log, rec.records)
        rec.where += f"; logging to rerun: {rerun.describe()}"
    return rec


def _open_recorder(args, default_out: Path) -> SessionRecording:
    if args.no_record:
        if args.record_to or args.out:
            raise RecordingError("--no-record cannot be combined with --out or --record-to")
        return SessionRecording()
    if args.record_to and args.out:
        raise RecordingError("give --out (this session records with its own recorder) or --record-to (a running "
                             "recorder writes where it was told), not both")
    if bool(args.record_curve_server) != bool(args.record_curve_secret):
        raise RecordingError("CURVE to the recorder needs both --record-curve-server and --record-curve-secret")
    if args.record_curve_server and not args.record_to:
        raise RecordingError("--record-curve-server/--record-curve-secret go with --record-to (your own recorder is local)")
    from hgdagger.common.record_queue import RecordQueue
    from teleop.record_sink import RecordForwarder

    rec = SessionRecording(records=RecordQueue())
    target = args.record_to
    if target is None:
        rec._tmp = tempfile.mkdtemp(prefix="hgd-rec-")
        target = f"ipc://{rec._tmp}/recorder"
        try:
            rec._child = _start_own_recorder(target, Path(args.out or default_out), Path(rec._tmp),
                                             getattr(args, "image_storage", None))
        except RecordingError:
            rec.close()
            raise
    try:
        rec.forwarder = RecordForwarder(rec.records, target, curve_server_public_file=args.record_curve_server,
                                        curve_client_secret_file=args.record_curve_secret)
    except Exception as exc:  # unusable keys (curve.CurveError), a malformed endpoint
        rec.close()
        raise RecordingError(str(exc)) from None
    hello = rec.forwarder.probe(timeout_s=5.0)
    if hello is None or hello.error:
        rec.close()
        why = hello.error if hello is not None else "no recorder answered within 5 s"
        raise RecordingError(f"cannot record to {target}: {why}. Start one (hgd-record --out FOLDER --endpoint "
                             f"{target}), or leave out --record-to and this session records with its own recorder "
                             "(--out), or --no-record")
    rec.folder = hello.folder
    rec.where = f"recording into {hello.folder}" + ("" if rec._child else f" (the recorder at {target})")
    return rec


def _start_own_recorder(endpoint_: str, out: Path, logs: Path, image_storage: str | None = None) -> subprocess.Popen:
    """An ``hgd-record`` child on ``endpoint_``; returns once it listens (RecordingError if it cannot:
    folder not writable, already being recorded into). Its output goes to files in ``logs`` (a pipe
    nobody reads would fill up over a long session and stall it)."""
    import time

    cmd = [sys.executable, "-m", "hgdagger.cli.record", "--endpoint", endpoint_, "--out", str(out),
           "--parent-pid", str(os.getpid()), "--status-every", "3600"]
    if image_storage:
        cmd += ["--image-storage", image_storage]
    out_log, err_log = logs / "recorder.out", logs / "recorder.err"
    with open(out_log, "w") as stdout, open(err_log, "w") as stderr:
        # Its own session: a Ctrl-C in the terminal reaches the session command, which then closes
        # the recorder itself after the last records are through.
        child = subprocess.Popen(cmd, stdout=stdout, stderr=stderr, text=True, start_new_session=True)
    deadline = time.monotonic() + 60.0
    while "listening" not in out_log.read_text():
        if child.poll() is not None or time.monotonic() > deadline:
            child.kill()
            child.wait()
            why = [x for x in err_log.read_text().splitlines() if x.strip()]
            raise RecordingError(why[-1].removeprefix("hgd-record: error: ") if why
                                 else f"the recorder for {out} did not start")
        time.sleep(0.05)
    return child
