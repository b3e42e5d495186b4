"""How ``dawn serve`` listens and whom it lets in: ``ServeOptions`` (host, port, credentials,
TLS, read-only, limits) and the Flight middleware that authenticates every call.

A server bound to anything but a loopback address must have credentials: a bearer token
(``authorization: Bearer TOKEN`` on every call) or a user and password (HTTP basic credentials,
sent by Go and Java clients in a Handshake call and answered with a bearer token the client then
sends; pyarrow and other clients may send basic credentials on every call). Tokens and passwords
are compared in constant time. The middleware also reads the ``arrow_flight_session_id`` cookie
and, on unary calls, sets it, so cookie-aware clients keep their session across reconnections.
"""
from __future__ import annotations

import base64
import hmac
import ipaddress
import secrets
import threading
from dataclasses import dataclass

import pyarrow.flight as fl

SESSION_COOKIE = "arrow_flight_session_id"


@dataclass
class ServeOptions:
    """How ``dawn serve`` listens and what it lets remote clients do (see the module docstring)."""
    host: str = "127.0.0.1"
    port: int = 0
    token: str | None = None
    user: str | None = None
    password: str | None = None
    tls_cert: str | None = None          # PEM files
    tls_key: str | None = None
    read_only: bool = False
    allow_udf_registration: bool = False
    statement_timeout: float | None = None   # seconds, from a statement's start to its last batch
    max_result_bytes: int | None = None      # bytes one result may stream
    max_command_bytes: int = 16 << 20        # a serialized command or action body
    session_idle_timeout: float = 3600.0     # seconds before an unused session is closed

    def check(self) -> None:
        """Refuse settings that would expose the database; ValueError with what to do."""
        if (self.user is None) != (self.password is None):
            raise ValueError("--user and --password go together")
        if self.token is not None and self.user is not None:
            raise ValueError("give either --token or --user/--password, not both")
        if (self.tls_cert is None) != (self.tls_key is None):
            raise ValueError("--tls-cert and --tls-key go together")
        if not is_loopback(self.host) and self.token is None and self.user is None:
            raise ValueError(f"Refusing to serve on {self.host} without authentication: anyone who "
                             "can reach that address could read and change the database. Give "
                             "--token TOKEN or --user NAME --password SECRET (with --tls-cert/--tls-key "
                             "so they do not travel in clear text), or bind 127.0.0.1")
        for name in ("statement_timeout", "max_result_bytes"):
            v = getattr(self, name)
            if v is not None and v <= 0:
                raise ValueError(f"--{name.replace('_', '-')} must be positive, got {v}")

    @property
    def scheme(self) -> str:
        return "grpc+tls" if self.tls_cert else "grpc"


def is_loopback(host: str) -> bool:
    """Whether binding ``host`` reaches this machine only ('' and 0.0.0.0 are every interface)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


class CallMiddleware(fl.ServerMiddleware):
    def __init__(self, user: str, cookie: str | None, issued: str | None):
        self.user = user
        self.cookie = cookie          # the session the client names
        self.session_id: str | None = None   # the session the call used (sent back as a cookie)
        self.issued = issued          # a bearer token for a basic-auth client

    def sending_headers(self) -> dict[str, str]:
        out = {}
        if self.issued:
            out["authorization"] = f"Bearer {self.issued}"
        if self.session_id and self.session_id != self.cookie:
            out["set-cookie"] = f"{SESSION_COOKIE}={self.session_id}"
        return out


class AuthMiddleware(fl.ServerMiddlewareFactory):
    """Authenticates every call (bearer token or basic credentials) and reads the session cookie."""

    def __init__(self, options: ServeOptions):
        self.options = options
        self.tokens: dict[str, str] = {}    # bearer tokens issued to basic-auth clients -> user
        self.lock = threading.Lock()

    def start_call(self, info, headers) -> CallMiddleware:
        o = self.options
        auth = _header(headers, "authorization")
        user, issued = "anonymous", None
        if o.token is not None or o.user is not None:
            if auth is None:
                raise fl.FlightUnauthenticatedError("Authentication required: send 'authorization: "
                                                    "Bearer <token>' (or basic credentials)")
            scheme, _, cred = auth.partition(" ")
            if scheme.lower() == "bearer":
                if o.token is not None and hmac.compare_digest(cred.encode(), o.token.encode()):
                    user = "token"
                else:
                    with self.lock:
                        user = self.tokens.get(cred)
                    if user is None:
                        raise fl.FlightUnauthenticatedError("Invalid bearer token")
            elif scheme.lower() == "basic" and o.user is not None:
                try:
                    # Go's Flight client sends it unpadded (RawStdEncoding)
                    raw = base64.b64decode(cred + "=" * (-len(cred) % 4), validate=True)
                    name, _, pw = raw.decode().partition(":")
                except ValueError:
                    raise fl.FlightUnauthenticatedError("Malformed basic credentials") from None
                if not (hmac.compare_digest(name.encode(), o.user.encode())
                        and hmac.compare_digest(pw.encode(), o.password.encode())):
                    raise fl.FlightUnauthenticatedError("Invalid user name or password")
                user, issued = name, secrets.token_urlsafe(24)
                with self.lock:
                    self.tokens[issued] = name
            else:
                raise fl.FlightUnauthenticatedError(f"Unsupported authorization scheme {scheme!r}")
        cookie = None
        for c in headers.get("cookie", []):
            for part in c.split(";"):
                k, _, v = part.strip().partition("=")
                if k == SESSION_COOKIE:
                    cookie = v
        return CallMiddleware(user, cookie, issued)


class HeaderHandshake(fl.ServerAuthHandler):
    """Flight's basic-auth handshake as Go and Java clients make it: credentials travel in the
    Handshake call's headers, which AuthMiddleware checks (and answers with a bearer token); the
    handshake stream itself carries nothing, and every other call is checked by the middleware."""

    def authenticate(self, outgoing, incoming) -> None:
        pass

    def is_valid(self, token: bytes) -> bytes:
        return b""


def _header(headers: dict, name: str) -> str | None:
    v = headers.get(name)
    return v[0] if v else None
