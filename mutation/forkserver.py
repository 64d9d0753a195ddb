"""A fork server for mutation runs: cosmic-ray starts the tests once per mutant, and a fresh Python
pays ~6 s of imports (SQLAlchemy, advanced-alchemy, Litestar, pytest plugins) before the first test.

`serve` imports those third-party packages once, then forks a child per request that imports the
project's own code from disk (so it sees the mutant cosmic-ray just wrote) and runs pytest.
`run` is the test command cosmic-ray calls: it imports only the standard library, asks the server
for one pytest run and exits with its result. The server kills a child that overruns the per-mutant
timeout (a mutant that loops forever counts as killed, as cosmic-ray counts its own timeouts).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PROJECT_PACKAGES = ("driveguard", "api", "emulator", "launcher", "support", "conftest", "dags", "plugins", "tests")


def _project_modules() -> set[str]:
    return {name for name in sys.modules if name.split(".")[0] in PROJECT_PACKAGES}


def _warm_imports() -> None:
    """Load every third-party module the tests need, then forget the project's own modules, except
    the ORM models: they register tables in advanced-alchemy's global metadata once per process."""
    sys.path[:0] = [str(ROOT), str(ROOT / "tests")]
    import importlib.metadata

    import driveguard.db.models  # noqa: F401

    keep = _project_modules()
    import conftest  # noqa: F401
    import pytest  # noqa: F401

    for entry_point in importlib.metadata.entry_points(group="pytest11"):
        with contextlib.suppress(Exception):  # a plugin that cannot load says so in the child's run
            entry_point.load()
    for name in _project_modules() - keep:
        del sys.modules[name]


def serve(socket_path: str, timeout: float) -> None:
    sys.dont_write_bytecode = True  # a mutant's .pyc must never outlive it
    os.environ["PYTHONDONTWRITEBYTECODE"] = "1"
    os.chdir(ROOT)
    _warm_imports()
    Path(socket_path).unlink(missing_ok=True)
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(socket_path)
    listener.listen(1)
    print("ready", flush=True)
    while True:
        conn, _ = listener.accept()
        with conn:
            request = json.loads(conn.makefile("r").readline())
            if request.get("stop"):
                break
            code = _run_child(listener, request["args"], request["output"], timeout)
            conn.sendall(f"{code}\n".encode())
    listener.close()
    Path(socket_path).unlink(missing_ok=True)


def _run_child(listener: socket.socket, args: list[str], output: str, timeout: float) -> int:
    pid = os.fork()
    if pid == 0:  # the child: its own process group, output to a file the client prints
        try:
            listener.close()
            os.setpgid(0, 0)
            fd = os.open(output, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            os.dup2(fd, 1)
            os.dup2(fd, 2)
            import pytest

            code = int(pytest.main(args))
        except BaseException:  # anything raised in the child is a failed run
            code = 3
        os._exit(code)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return os.waitstatus_to_exitcode(status)
        time.sleep(0.02)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGKILL)
    os.waitpid(pid, 0)
    with open(output, "a") as out:
        out.write(f"\nforkserver: killed after {timeout:.0f} s\n")
    return 124


def _request(socket_path: str, request: dict) -> str:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as client:
        client.connect(socket_path)
        client.sendall((json.dumps(request) + "\n").encode())
        return client.makefile("r").readline()


def run(socket_path: str, args: list[str]) -> int:
    output = f"{socket_path}.out"
    code = int(_request(socket_path, {"args": args, "output": output}) or 125)
    sys.stdout.write(Path(output).read_text(errors="replace")[-6000:])
    return code


def stop(socket_path: str) -> None:
    with contextlib.suppress(OSError):  # already gone
        _request(socket_path, {"stop": True})


if __name__ == "__main__":
    command, path, *rest = sys.argv[1:]
    if command == "serve":
        serve(path, float(rest[0]))
    elif command == "run":
        sys.exit(run(path, rest))
    elif command == "stop":
        stop(path)
