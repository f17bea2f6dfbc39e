"""CURVE encryption and authentication for every socket that can be reached from another machine
(policy server, recorder, device intent), in one place, and the rule that goes with it: a socket
bound beyond loopback without CURVE is refused unless the user says `--insecure`.

Keys are zmq.auth certificate files (`hgd-serve --gen-keys DIR` makes a server and a robot pair).
"""

from __future__ import annotations

import re

import zmq
import zmq.auth


class CurveError(ValueError):
    """Key files that cannot secure a socket, with what is wrong."""


def is_loopback(endpoint: str) -> bool:
    """ipc/inproc endpoints, and tcp on 127.0.0.1, localhost or [::1], cannot be reached from elsewhere."""
    if not endpoint.startswith("tcp://"):
        return True
    host = re.sub(r":[^:\]]*$", "", endpoint[len("tcp://"):])
    return host in ("127.0.0.1", "localhost", "[::1]") or host.startswith("127.")


def exposure_problem(endpoint: str, secured: bool, insecure_ok: bool, flags: str = "--curve") -> str | None:
    """Why binding `endpoint` would expose robots or data to the network, or None; `flags` is the
    prefix of the command's key flags (--curve, --intent-curve)."""
    if secured or insecure_ok or is_loopback(endpoint):
        return None
    return (f"{endpoint} can be reached from other machines and has no CURVE keys: give {flags}-secret and "
            f"{flags}-clients (hgd-serve --gen-keys DIR makes them), bind 127.0.0.1, or pass --insecure on a "
            "network you trust")


def secure_server(ctx: zmq.Context, sock: zmq.Socket, secret_file: str, clients_dir: str | None):
    """Make `sock` (before bind) a CURVE server admitting only the public keys in `clients_dir`.
    Returns the authenticator thread; stop it when the socket closes."""
    from zmq.auth.thread import ThreadAuthenticator

    if not clients_dir:
        raise CurveError("CURVE needs --curve-clients DIR: the public keys of the robots allowed in")
    public, secret = _load(secret_file)
    if secret is None:
        raise CurveError(f"{secret_file}: not a secret certificate (use the *.key_secret file)")
    auth = ThreadAuthenticator(ctx)
    auth.start()
    auth.configure_curve(domain="*", location=clients_dir)
    sock.curve_secretkey, sock.curve_publickey, sock.curve_server = secret, public, True
    return auth


def secure_client(sock: zmq.Socket, server_public_file: str, client_secret_file: str | None) -> None:
    """Make `sock` (before connect) a CURVE client of the server whose public key is in the file."""
    if not client_secret_file:
        raise CurveError("CURVE needs this robot's secret certificate too (--curve-secret)")
    server_public, _ = _load(server_public_file)
    public, secret = _load(client_secret_file)
    if secret is None:
        raise CurveError(f"{client_secret_file}: not a secret certificate (use the *.key_secret file)")
    sock.curve_serverkey, sock.curve_publickey, sock.curve_secretkey = server_public, public, secret


def _load(path: str) -> tuple[bytes, bytes | None]:
    try:
        return zmq.auth.load_certificate(path)
    except (OSError, ValueError) as e:
        raise CurveError(f"{path}: not a readable certificate ({e})") from None
