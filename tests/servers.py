"""Throwaway PostgreSQL and Redis servers for tests that must not touch the shared ones.

A test that restarts or kills a server (the fault drills), or needs one configured its own way
(pgBackRest's WAL archiving), starts its own here: a spare port, a temporary folder, and nothing
left behind after `destroy()` / `stop()`.
"""

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import redis

POSTGRES_BINDIR_FALLBACK = Path("/usr/lib/postgresql/15/bin")


def free_port() -> int:
    """A TCP port nobody listens on right now (the kernel's pick)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def postgres_bindir() -> Path | None:
    """Where initdb, pg_ctl and postgres live (`pg_config --bindir`), or None when PostgreSQL is not installed."""
    try:
        found = Path(
            subprocess.run(["pg_config", "--bindir"], capture_output=True, text=True, check=True).stdout.strip()
        )
    except (OSError, subprocess.CalledProcessError):
        found = POSTGRES_BINDIR_FALLBACK
    return found if (found / "initdb").exists() else None


def run_as_postgres(command: str, *, timeout: float = 120, **kwargs) -> subprocess.CompletedProcess:
    # initdb refuses root: as root, the server binaries run as the postgres user, in a folder it owns.
    runner = ["su", "postgres", "-s", "/bin/bash", "-c", command] if os.geteuid() == 0 else ["bash", "-c", command]
    return subprocess.run(runner, capture_output=True, text=True, timeout=timeout, **kwargs)


class ThrowawayPostgres:
    """One PostgreSQL cluster in a temporary folder, on a spare port, trust authentication for `postgres`.

    The socket lives in the folder; TCP on 127.0.0.1 unless `tcp=False`. `destroy()` stops it
    (immediately) and removes the folder; call it in a `finally`.
    """

    def __init__(self, *, prefix: str = "vigil_pg_", tcp: bool = True):
        bindir = postgres_bindir()
        if bindir is None:
            raise RuntimeError("PostgreSQL's server programs (initdb) are not installed")
        self.bindir = bindir
        self.folder = Path(tempfile.mkdtemp(prefix=prefix))
        if os.geteuid() == 0:
            shutil.chown(self.folder, "postgres", "postgres")
        self.port = free_port()
        self.data = self.folder / "data"
        self.log_path = self.folder / "server.log"
        result = run_as_postgres(f"{bindir}/initdb -D {self.data} -A trust -U postgres --no-sync >/dev/null")
        if result.returncode != 0:
            self.destroy()
            raise RuntimeError(f"initdb failed: {result.stderr}")
        self.configure(
            listen_addresses="'127.0.0.1'" if tcp else "''",
            port=str(self.port),
            unix_socket_directories=f"'{self.folder}'",
        )

    def configure(self, **parameters: str) -> None:
        """Append `name = value` lines to postgresql.conf (values as PostgreSQL spells them, quotes included)."""
        with open(self.data / "postgresql.conf", "a") as conf:
            conf.write("\n" + "".join(f"{name} = {value}\n" for name, value in parameters.items()))

    def own(self, path: Path) -> None:
        """Hand a file the server's programs must read (a tool's config) to the postgres user."""
        if os.geteuid() == 0:
            shutil.chown(path, "postgres", "postgres")

    def pg_ctl(self, args: str, *, timeout: float = 120) -> subprocess.CompletedProcess:
        return run_as_postgres(f"{self.bindir}/pg_ctl -D {self.data} -l {self.log_path} {args}", timeout=timeout)

    def start(self) -> None:
        result = self.pg_ctl("-w start")
        if result.returncode != 0:
            raise RuntimeError(f"PostgreSQL did not start: {result.stderr}\n{self.log()}")

    def stop(self, *, mode: str = "fast") -> None:
        """Stop the server: `fast` (clients disconnected, checkpoint) or `immediate` (as in a crash)."""
        result = self.pg_ctl(f"-m {mode} -w stop", timeout=60)
        if result.returncode != 0 and self.running():
            raise RuntimeError(f"PostgreSQL did not stop: {result.stderr}")

    def running(self) -> bool:
        return self.pg_ctl("status", timeout=30).returncode == 0

    def url(self, database: str = "postgres") -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/{database}"

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def destroy(self) -> None:
        if (self.data / "postmaster.pid").exists():
            self.pg_ctl("-m immediate -w stop", timeout=60)
            pid_file = self.data / "postmaster.pid"
            if pid_file.exists():  # pg_ctl could not stop it: the postmaster's pid is the file's first line
                try:
                    os.kill(int(pid_file.read_text().split()[0]), signal.SIGKILL)
                except (OSError, ValueError, IndexError):
                    pass
        shutil.rmtree(self.folder, ignore_errors=True)


class ThrowawayRedis:
    """A redis-server on a spare port that keeps nothing on disk; `stop()` and `start()` again keep the port."""

    def __init__(self, *, folder: Path, executable: str = "redis-server"):
        self.executable = shutil.which(executable) or executable
        self.folder = folder
        self.port = free_port()
        self.process: subprocess.Popen | None = None
        self.log_path = folder / f"redis-{self.port}.log"

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, *, timeout: float = 20) -> None:
        command = [
            self.executable,
            "--port",
            str(self.port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(self.folder),
        ]
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        client = redis.Redis(port=self.port, socket_connect_timeout=0.5)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"redis-server exited: {self.log_path.read_text(errors='replace')}")
            try:
                if client.ping():
                    return
            except redis.RedisError:
                time.sleep(0.1)
        raise RuntimeError(f"redis-server did not answer on port {self.port}")

    def stop(self) -> None:
        """Shut it down (SIGTERM; nothing is saved, so whatever it held is gone, as after a crash)."""
        if self.process is None or self.process.poll() is not None:
            return
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)
