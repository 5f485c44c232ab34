"""A real OpenSSH server (Debian `openssh-server`) on a free loopback port, for the SFTP delivery
tests: its own host key, one authorised client key, the internal-sftp subsystem, started in the
foreground and stopped by its pid. Not a fake: the paramiko client talks SSH to the real sshd.

    with OpenSshServer(tmp_path) as srv:
        srv.port, srv.host_key ("ssh-ed25519 AAAA..."), srv.client_key (private key text),
        srv.user, srv.root (a folder the user can write)

Fails (never skips) when sshd is missing: `apt-get install -y openssh-server` (.ci/run does it).
"""

from __future__ import annotations

import getpass
import os
import shutil
import socket
import subprocess
import time
from pathlib import Path

import pytest

SSHD = Path(os.environ.get("CRM_SSHD", "/usr/sbin/sshd"))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class OpenSshServer:
    def __init__(self, work: Path):
        if not (SSHD.is_file() and os.access(SSHD, os.X_OK)) or shutil.which("ssh-keygen") is None:
            pytest.fail(
                f"OpenSSH server not found at {SSHD}: install it (`apt-get update && apt-get install -y "
                "openssh-server`) or point CRM_SSHD at an sshd binary",
                pytrace=False,
            )
        self.work = work
        self.work.mkdir(parents=True, exist_ok=True)
        self.root = work / "sftp-root"
        self.root.mkdir(exist_ok=True)
        self.user = getpass.getuser()
        self.port = _free_port()
        self.proc: subprocess.Popen | None = None
        self.config: Path | None = None

    def _keygen(self, name: str) -> Path:
        path = self.work / name
        subprocess.run(
            ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", name, "-f", str(path)], check=True
        )
        return path

    def prepare(self) -> OpenSshServer:
        """Keys and configuration (host_key, client_key known from here on), not listening yet."""
        host = self._keygen("host_ed25519")
        client = self._keygen("client_ed25519")
        self.host_key = " ".join((host.with_suffix(".pub").read_text().split())[:2])
        self.client_key = client.read_text()
        (self.work / "authorized_keys").write_text(client.with_suffix(".pub").read_text())
        Path("/run/sshd").mkdir(parents=True, exist_ok=True)  # sshd's privilege-separation directory
        config = self.work / "sshd_config"
        config.write_text(
            "\n".join(
                [
                    f"Port {self.port}",
                    "ListenAddress 127.0.0.1",
                    f"HostKey {host}",
                    f"PidFile {self.work / 'sshd.pid'}",
                    f"AuthorizedKeysFile {self.work / 'authorized_keys'}",
                    "PubkeyAuthentication yes",
                    "PasswordAuthentication no",
                    "KbdInteractiveAuthentication no",
                    "PermitRootLogin prohibit-password",
                    "StrictModes no",
                    "UsePAM no",
                    "Subsystem sftp internal-sftp",
                    "LogLevel ERROR",
                ]
            )
            + "\n"
        )
        self.config = config
        return self

    def start(self) -> OpenSshServer:
        if self.config is None:
            self.prepare()
        config = self.config
        self.log = self.work / "sshd.log"
        self.proc = subprocess.Popen(
            [str(SSHD), "-D", "-e", "-f", str(config)], stdout=subprocess.DEVNULL, stderr=self.log.open("wb")
        )
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"sshd exited ({self.proc.returncode}): {self.log.read_text()}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as s:
                    if s.recv(4).startswith(b"SSH-"):
                        return self
            except OSError:
                time.sleep(0.1)
        raise RuntimeError(f"sshd did not answer on 127.0.0.1:{self.port}: {self.log.read_text()}")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def __enter__(self) -> OpenSshServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
