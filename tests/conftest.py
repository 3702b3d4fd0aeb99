"""Fixtures shared by every test folder: a throwaway PostgreSQL server for the SQL sources.

``postgres`` starts one real server per test session (Debian's postgresql package: initdb and
pg_ctl from /usr/lib/postgresql/*/bin or the PATH) in a temporary folder, listening on a unix
socket only (no TCP port, so parallel runs do not collide), with password authentication
(scram-sha-256) for one user. PostgreSQL refuses to run as root: as root the server runs as the
``postgres`` system user through ``runuser``. When no server can be started the tests that use
it are skipped, and the reason says why.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

PG_USER = "enfo"
PG_PASSWORD = "s3cret pass/word"  # a space and a slash: must survive the URI encoding


def _pg_bin() -> Path | None:
    found = shutil.which("initdb")
    if found:
        return Path(found).parent
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), reverse=True)
    return Path(candidates[0]).parent if candidates else None


def _start_postgres() -> tuple[dict | None, str]:
    """(server, "") or (None, why not)."""
    bindir = _pg_bin()
    if bindir is None:
        return None, "initdb not found (apt-get install postgresql)"
    prefix: list[str] = []
    folder = Path(tempfile.mkdtemp(prefix="enfo-pg-"))
    if os.geteuid() == 0:
        import pwd

        try:
            user = pwd.getpwnam("postgres")
        except KeyError:
            return None, "running as root and there is no postgres user to run the server as"
        if shutil.which("runuser") is None:
            return None, "running as root and runuser is missing"
        os.chown(folder, user.pw_uid, user.pw_gid)
        prefix = ["runuser", "-u", "postgres", "--"]
    pwfile = folder / "pw"
    pwfile.write_text(PG_PASSWORD + "\n")
    if prefix:
        os.chown(pwfile, user.pw_uid, user.pw_gid)
    data = folder / "data"
    steps = [
        [str(bindir / "initdb"), "-D", str(data), "-U", PG_USER, "--pwfile", str(pwfile),
         "-A", "scram-sha-256", "--no-sync", "-E", "UTF8"],
        [str(bindir / "pg_ctl"), "-D", str(data), "-l", str(folder / "log"), "-w", "-t", "60",
         "-o", f"-k {folder} -c listen_addresses='' -c fsync=off", "start"],
    ]
    for step in steps:
        done = subprocess.run(prefix + step, capture_output=True, text=True)
        if done.returncode != 0:
            log = (folder / "log").read_text() if (folder / "log").exists() else ""
            shutil.rmtree(folder, ignore_errors=True)
            return None, f"{Path(step[0]).name} failed: {done.stderr.strip() or done.stdout.strip()} {log}"
    stop = prefix + [str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"]
    return {"folder": folder, "socket": str(folder), "user": PG_USER, "password": PG_PASSWORD,
            "uri": f"postgresql://{PG_USER}@/postgres?host={folder}", "stop": stop}, ""


_NO_SERVER: list[str] = []  # why no server could be started, for the closing summary


@pytest.fixture(scope="session")
def postgres():
    """A running PostgreSQL server: ``uri`` (no password), ``user``, ``password``, ``socket``."""
    server, why = _start_postgres()
    if server is None:
        _NO_SERVER.append(why)
        pytest.skip(f"cannot start a PostgreSQL server: {why}")
    try:
        yield server
    finally:
        subprocess.run(server["stop"], capture_output=True)
        shutil.rmtree(server["folder"], ignore_errors=True)


def pytest_terminal_summary(terminalreporter):
    """Print why the PostgreSQL tests were skipped, also under -q (whose summary omits skips)."""
    for why in dict.fromkeys(_NO_SERVER):
        terminalreporter.write_line(f"PostgreSQL tests skipped: no server could be started: {why}")
