"""Read and validate a fixture file in a forked child process while this one writes.

CSV parsing and validation cost about as much as the database's own work, and
with the GIL only a second process gets a second core. The child sends its
results down a pipe as marshal messages: a batch of rows (a tuple), a
progress position (an int), and last the problems it found (a dict). For
MariaDB's LOAD DATA it writes the rows itself, in the server's format, into a
named pipe the server reads; this process then only waits for the server.
"""

from __future__ import annotations

import contextlib
import marshal
import os
import signal
import struct
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, BinaryIO

from postctl.fixtures import MAX_PROBLEMS, Batch, Problem, Progress, Row, read_rows

Encode = Callable[[list[Row]], bytes]
_HEADER = struct.Struct("<Q")
# A pipe this size holds a batch or two, and each message goes in with one
# write: the reader wakes once per batch, not once per page. On a busy machine
# every wake-up waits for a time slice, and thousands of them cost seconds.
_PIPE_SIZE = 1 << 20


def batches(
    path: Path, loaded_at: str, problems: list[Problem], binary_content: bool = False
) -> Iterator[Batch]:
    """Yield the file's valid batches, validated by a child; then add its problems."""
    child = _Child(path, loaded_at, problems, binary_content=binary_content)
    try:
        for message in child.messages():
            if isinstance(message, tuple):
                yield Batch(*message)
    finally:
        child.close()


class Feed:
    """A child that validates the file and writes its rows into a named pipe."""

    def __init__(
        self,
        path: Path,
        loaded_at: str,
        fifo: str,
        encode: Encode,
        problems: list[Problem],
        progress: Progress | None,
    ) -> None:
        self.child = _Child(path, loaded_at, problems, fifo, encode)
        self.progress = progress
        self.path = path
        self.listener = threading.Thread(target=self._listen, name="postctl-feed", daemon=True)
        self.listener.start()

    def _listen(self) -> None:
        for message in self.child.messages():
            if isinstance(message, int) and self.progress is not None:
                self.progress(self.path, message)

    def finish(self) -> int:
        """Wait for the child; return how many rows it wrote into the pipe."""
        self.listener.join()
        self.child.close()
        return self.child.sent

    def stop(self) -> None:
        """End the child early: the server is not reading (any more)."""
        self.child.kill()
        self.listener.join()
        self.child.close()


class _Child:
    def __init__(
        self,
        path: Path,
        loaded_at: str,
        problems: list[Problem],
        fifo: str | None = None,
        encode: Encode | None = None,
        binary_content: bool = False,
    ) -> None:
        self.path = path
        self.problems = problems
        self.sent = 0
        self.finished = False
        self.reaped = False
        read_fd, write_fd = os.pipe()
        with contextlib.suppress(OSError, AttributeError):
            import fcntl

            fcntl.fcntl(write_fd, fcntl.F_SETPIPE_SZ, _PIPE_SIZE)
        self.pid = os.fork()
        if self.pid == 0:  # pragma: no cover - the child; coverage does not follow a fork
            os.close(read_fd)
            _run(path, loaded_at, write_fd, fifo, encode, binary_content)
        os.close(write_fd)
        self.pipe = open(read_fd, "rb", buffering=_PIPE_SIZE)  # noqa: SIM115 - closed in close()

    def messages(self) -> Iterator[Any]:
        while (message := _receive(self.pipe)) is not None:
            if isinstance(message, dict):
                self.problems.extend(Problem(Path(p[0]), *p[1:]) for p in message["problems"])
                self.sent = message["sent"]
                self.finished = True
                return
            yield message

    def kill(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.pid, signal.SIGTERM)

    def close(self) -> None:
        if self.reaped:
            return
        if not self.finished:
            self.kill()
        self.pipe.close()
        os.waitpid(self.pid, 0)
        self.reaped = True
        if not self.finished:
            self.problems.append(
                Problem(self.path, None, None, None, "the validating process stopped early")
            )


def _run(
    path: Path,
    loaded_at: str,
    pipe_fd: int,
    fifo: str | None,
    encode: Encode | None,
    binary_content: bool,
) -> None:  # pragma: no cover - runs in the child
    """Validate the file, send or write its rows, then send the problems; never return."""
    import gc

    gc.disable()  # the batches hold no cycles; collecting them costs a sixth of the time
    signal.signal(signal.SIGINT, signal.SIG_DFL)  # Ctrl-C ends the child quietly
    status = 1
    problems: list[Problem] = []
    sent = 0
    try:
        with open(pipe_fd, "wb", buffering=0) as pipe:
            out = open(fifo, "wb", buffering=_PIPE_SIZE) if fifo else None  # noqa: SIM115
            try:
                for batch in read_rows(path, loaded_at, problems, binary_content):
                    if len(problems) >= MAX_PROBLEMS:
                        break
                    if problems:
                        if out is not None:
                            out.close()  # the load has failed: let the server finish early
                            out = None
                        continue
                    if out is not None and encode is not None:
                        out.write(encode(batch.rows))
                        sent += len(batch.rows)
                        _send(pipe, batch.position)
                    else:
                        _send(pipe, (batch.lines, batch.rows, batch.position))
            except BrokenPipeError:
                pass  # the server stopped reading: the parent has its error
            except OSError as err:
                problems.append(Problem(path, None, None, None, f"cannot read: {err}"))
            if out is not None:
                with contextlib.suppress(BrokenPipeError):
                    out.close()
            found = [(str(p.path), p.line, p.column, p.value, p.reason) for p in problems]
            _send(pipe, {"problems": found[:MAX_PROBLEMS], "sent": sent})
        status = 0
    except BaseException:  # interrupted, or the reader went away: the parent reports
        pass
    finally:
        os._exit(status)


def _send(pipe: BinaryIO, message: Any) -> None:
    """Write one message with as few write calls as the pipe allows (usually one)."""
    data = marshal.dumps(message)
    view = memoryview(_HEADER.pack(len(data)) + data)
    while view:
        view = view[os.write(pipe.fileno(), view) :]


def _receive(pipe: BinaryIO) -> Any:
    head = pipe.read(_HEADER.size)
    if len(head) < _HEADER.size:
        return None
    (size,) = _HEADER.unpack(head)
    return marshal.loads(pipe.read(size))
