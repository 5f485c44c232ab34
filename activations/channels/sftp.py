"""Export files to an SFTP server (paramiko): the one module that imports paramiko.

One connection per upload: the server's host key must equal the plan's `host_key` (no trust on
first use, nothing read from ~/.ssh), then password or private-key authentication with the
secret from the environment variable the plan names. Each file is written as `<name>.part`,
renamed into place (a reader never sees half a file), then read back and compared by SHA-256.
Uploading the same files again replaces them with the same bytes, so a retry after a lost
connection cannot duplicate anything. Transient failures (connection refused or dropped, a
timeout, a checksum that does not match) are retried with the delivery retry policy
(`activations.delivery.resilience.retrying`, tenacity); a wrong host key, refused credentials
or a permission error are not.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import io
import posixpath
import socket
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import paramiko

from activations.delivery.resilience import Retry, attempts_of, retrying
from activations.plan.spec import SftpDelivery
from crmloop.settings import RetryConfig


class SftpDeliveryError(RuntimeError):
    """An upload that no retry can fix (host key, credentials, permissions): says which."""


@dataclass
class SftpUpload:
    url: str  # sftp://user@host:port/<remote folder>
    remote_paths: list[str] = field(default_factory=list)
    sha256: dict[str, str] = field(default_factory=dict)  # file name -> SHA-256 read back from the server
    attempts: int = 0


def host_key(spec: str) -> paramiko.PKey:
    """The expected server key from the plan's '<type> <base64>'."""
    kind, b64 = spec.split()
    try:
        return paramiko.PKey.from_type_string(kind, base64.b64decode(b64, validate=True))
    except (binascii.Error, paramiko.SSHException, ValueError) as exc:
        raise SftpDeliveryError(f"host_key {kind} ...: not a valid public key ({exc})") from exc


def private_key(text: str) -> paramiko.PKey:
    """A private key from its text (what the plan's `private_key_env` variable holds)."""
    for cls in (paramiko.Ed25519Key, paramiko.ECDSAKey, paramiko.RSAKey):
        try:
            return cls.from_private_key(io.StringIO(text))
        except (paramiko.SSHException, ValueError):
            continue
    raise SftpDeliveryError(
        "the SFTP private key is not an Ed25519, ECDSA or RSA private key without passphrase"
    )


def _sha256(data_or_path: bytes | Path) -> str:
    if isinstance(data_or_path, Path):
        with data_or_path.open("rb") as fh:
            return hashlib.file_digest(fh, "sha256").hexdigest()
    return hashlib.sha256(data_or_path).hexdigest()


def _makedirs(sftp: paramiko.SFTPClient, folder: str) -> None:
    path = ""
    for part in folder.split("/"):
        if not part:
            path = "/" if not path else path
            continue
        path = posixpath.join(path, part) if path else part
        try:
            sftp.stat(path)
        except FileNotFoundError:
            sftp.mkdir(path)


class SftpUploader:
    def __init__(
        self,
        target: SftpDelivery,
        env: Mapping[str, str],
        retry: RetryConfig,
        *,
        sleep: Callable[[float], None] = time.sleep,
    ):
        self.target = target
        self.retry = retry
        self._sleep = sleep
        self._expected = host_key(target.host_key)
        self._password: str | None = None
        self._key: paramiko.PKey | None = None
        if target.private_key_env:
            text = env.get(target.private_key_env) or ""
            if not text:
                raise SftpDeliveryError(
                    f"SFTP to {target.host}: the environment variable {target.private_key_env} is not set"
                )
            self._key = private_key(text)
        else:
            self._password = env.get(target.password_env or "") or ""
            if not self._password:
                raise SftpDeliveryError(
                    f"SFTP to {target.host}: the environment variable {target.password_env} is not set"
                )

    def url(self, remote_dir: str) -> str:
        t = self.target
        return f"sftp://{t.username}@{t.host}:{t.port}/{remote_dir.lstrip('/')}"

    def upload(self, files: Sequence[Path], remote_dir: str) -> SftpUpload:
        """Upload `files` into `remote_dir` (created if needed); retried while transient."""

        def attempt() -> SftpUpload:
            try:
                return self._upload_once(files, remote_dir)
            except (SftpDeliveryError, paramiko.AuthenticationException, PermissionError):
                raise
            except (OSError, EOFError, paramiko.SSHException) as exc:
                raise Retry(
                    f"sftp {self.target.host}:{self.target.port}: {type(exc).__name__}: {exc}"
                ) from exc

        policy = retrying(self.retry, self._sleep)
        try:
            result = policy(attempt)
        except paramiko.AuthenticationException as exc:
            raise SftpDeliveryError(
                f"SFTP to {self.target.host}: authentication as {self.target.username} refused"
            ) from exc
        except PermissionError as exc:
            raise SftpDeliveryError(
                f"SFTP to {self.target.host}: permission denied writing {remote_dir}: {exc}"
            ) from exc
        result.attempts = attempts_of(policy)
        return result

    def _upload_once(self, files: Sequence[Path], remote_dir: str) -> SftpUpload:
        t = self.target
        timeout = self.retry.timeout_seconds
        sock = socket.create_connection((t.host, t.port), timeout=timeout)
        transport = paramiko.Transport(sock)
        try:
            transport.start_client(timeout=timeout)
            got = transport.get_remote_server_key()
            if got.get_name() != self._expected.get_name() or got.asbytes() != self._expected.asbytes():
                raise SftpDeliveryError(
                    f"SFTP to {t.host}:{t.port}: the server's host key ({got.get_name()} "
                    f"{got.get_base64()[:16]}...) is not the plan's host_key: nothing was sent"
                )
            if self._key is not None:
                transport.auth_publickey(t.username, self._key)
            else:
                transport.auth_password(t.username, self._password)
            sftp = paramiko.SFTPClient.from_transport(transport)
            try:
                _makedirs(sftp, remote_dir)
                out = SftpUpload(url=self.url(remote_dir))
                for f in files:
                    remote = posixpath.join(remote_dir, f.name)
                    part = remote + ".part"
                    sftp.put(str(f), part, confirm=True)
                    try:
                        sftp.posix_rename(part, remote)
                    except OSError:  # a server without the posix-rename extension
                        try:
                            sftp.remove(remote)
                        except FileNotFoundError:
                            pass
                        sftp.rename(part, remote)
                    with sftp.open(remote, "rb") as fh:
                        remote_sha = _sha256(fh.read())
                    if remote_sha != _sha256(f):
                        raise Retry(f"sftp {t.host}: {remote} reads back with another checksum")
                    out.remote_paths.append(remote)
                    out.sha256[f.name] = remote_sha
                return out
            finally:
                sftp.close()
        finally:
            transport.close()
