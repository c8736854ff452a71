"""Read and validate a fixture file in a forked child process while this one writes.

CSV parsing and validation cost more than SQLite's own work, and with the GIL
only another process gets another core. For SQLite, the file is cut into
spans of about a batch, each ending where a line ends outside quotes (found
by counting quote characters). A forked worker validates spans and sends back
their rows; this process writes them in file order, and validates a span
itself whenever it has waited for the worker as long as that takes. A span
that turns out not to end on a record boundary (a stray quote in an unquoted
field fools the count) is noticed when it is parsed, before any of its rows
are used, and the rest of the file is then read here, in one piece. For
MariaDB's LOAD DATA one child reads the file by spans, and writes the rows
itself, in the server's format, into a named pipe the server reads; this
process then only waits for the server.

Messages go down pipes in marshal format: rows (a tuple), a progress
position (an int), and the problems found (a dict).
"""

from __future__ import annotations

import contextlib
import fcntl
import gc
import marshal
import mmap
import os
import signal
import struct
import sys
import termios
import threading
import time
from collections import deque
from collections.abc import Callable, Generator, Iterator, Sequence
from pathlib import Path
from typing import Any, BinaryIO, NoReturn

from postctl.fixtures import (
    COLUMNS,
    MALFORMED,
    MAX_PROBLEMS,
    Batch,
    CutShort,
    Problem,
    Progress,
    Row,
    Span,
    Validator,
    check_header,
    read_records,
    read_rows,
)

Encode = Callable[[list[Row]], bytes]
_HEADER = struct.Struct("<Q")
# A pipe this size holds a worker's whole span or two, and each message goes in
# with one write: the reader wakes once per batch, not once per page. On a busy
# machine every wake-up waits for a time slice, and thousands of them cost seconds.
_PIPE_SIZE = 1 << 20
_SPAN_BYTES = 1 << 19  # CSV per span: its rows fit the pipe, so a worker can finish it
_AHEAD = 4  # spans planned ahead of the one being written
_SCAN_BYTES = 1 << 16


def batches(path: Path, loaded_at: str, problems: list[Problem]) -> Iterator[Batch]:
    """Yield the file's valid batches in file order, validated here and by a worker."""
    pool = _Pool(path, check_header(path) or COLUMNS, loaded_at)
    collecting = gc.isenabled()
    gc.disable()  # a million row tuples and no cycles: the collector would only walk them
    try:
        yield from pool.batches(problems)
    finally:
        pool.close()
        if collecting:
            gc.enable()


class _Pool:
    """A worker and this process, validating spans of one file; the spans handed out."""

    def __init__(self, path: Path, header: Sequence[str], loaded_at: str) -> None:
        self.path = path
        self.loaded_at = loaded_at
        self.validator = Validator(path, header, loaded_at)
        self.spans = _spans(path)
        # Shared with the worker: set once a problem is found, so that it stops
        # sending rows that will not be written (it validates on).
        self.failed = mmap.mmap(-1, 1)
        self.worker = _Worker(self.validator, self.failed)
        self.queue: deque[tuple[_Worker | None, Span]] = deque()  # None: this process's
        self.given = 0  # spans the worker has and this process has not read back
        self.idle = 0.0  # seconds spent waiting for the worker, not yet made up for
        self.span_seconds = 0.0  # what the last span validated here took

    def batches(self, problems: list[Problem]) -> Iterator[Batch]:
        line = 1  # where the next span starts
        while self._hand_out() or self.queue:
            worker, span = self.queue.popleft()
            found: list[Problem] = []
            try:
                if worker is None:
                    line = yield from self._validate_here(Span(span.start, span.end, line), found)
                else:
                    line = yield from self._read_back(worker, line, found)
            except CutShort:  # not a record boundary: read the rest here, in one piece
                self.close()
                rest = Span(span.start, None, line)
                yield from read_rows(self.path, self.loaded_at, problems, rest)
                return
            except EOFError:
                problems.append(self._stopped_early())
                return
            problems.extend(found)
            if problems:
                self.failed[0] = 1
            if len(problems) >= MAX_PROBLEMS or any(p.reason.startswith(MALFORMED) for p in found):
                return

    def _validate_here(self, span: Span, found: list[Problem]) -> Generator[Batch, None, int]:
        started = time.perf_counter()
        line = span.first_line
        for records in read_records(self.path, found, span):
            yield self.validator.batch(records, found)
            line = records.next_line
            if len(found) >= MAX_PROBLEMS:
                break
        self.span_seconds = time.perf_counter() - started
        return line

    def _read_back(
        self, worker: _Worker, line: int, found: list[Problem]
    ) -> Generator[Batch, None, int]:
        """Yield a span's batches from the worker, its line numbers made absolute."""
        shift = line - 1  # the worker numbers a span's lines from 1
        while True:
            if worker.pending():
                message = worker.receive()
            else:  # this process is about to wait: count how long
                started = time.perf_counter()
                message = worker.receive()
                self.idle += time.perf_counter() - started
            if not isinstance(message, tuple):
                break
            lines, rows, position = message
            yield Batch([n + shift for n in lines] if shift else lines, rows, position)
        self.given -= 1
        if message is None:
            raise EOFError
        if message["cut"]:
            raise CutShort
        found.extend(_from_wire(message["problems"], shift))
        return int(message["next_line"]) + shift

    def _hand_out(self) -> bool:
        """Plan the spans ahead: the worker's, unless this process has had to wait for it."""
        while len(self.queue) < _AHEAD:
            span = next(self.spans, None)
            if span is None:
                break
            if self._helps():
                self.idle -= self.span_seconds
                self.queue.append((None, span))
            else:
                self.worker.give(Span(span.start, span.end, 1))
                self.queue.append((self.worker, span))
                self.given += 1
        return bool(self.queue)

    def _helps(self) -> bool:
        """Tell whether to take the next span here rather than give it to the worker.

        Waiting for rows means the worker is the slower one: once this process
        has waited as long as a span takes it, it takes one itself, and spends
        that time working instead. The worker always keeps one to work on.
        """
        return self.given > 0 and self.idle >= self.span_seconds

    def _stopped_early(self) -> Problem:
        return Problem(self.path, None, None, None, "the validating process stopped early")

    def close(self) -> None:
        self.worker.close()


def _spans(path: Path) -> Iterator[Span]:
    """Cut the file into spans of about _SPAN_BYTES, each ending after a line end outside quotes.

    Outside quotes means after an even number of quote characters, which holds
    for CSV that quotes only whole fields; a span cut elsewhere is caught when
    parsed (CutShort).
    """
    with open(path, "rb") as file:
        size = os.fstat(file.fileno()).st_size
        start = 0
        while True:
            file.seek(start)
            data = file.read(_SPAN_BYTES)
            if start + len(data) < size:
                data += _to_line_end(file, data.count(b'"') % 2)
            end = start + len(data)
            yield Span(start, None if end >= size else end, 1)
            if end >= size:
                return
            start = end


def _to_line_end(file: BinaryIO, odd: int) -> bytes:
    """Read on to just after the next line feed with an even count of quotes; return it."""
    pieces = []
    while piece := file.read(_SCAN_BYTES):
        at = 0
        while (feed := piece.find(b"\n", at)) != -1:
            odd ^= piece.count(b'"', at, feed) % 2
            if not odd:
                pieces.append(piece[: feed + 1])
                return b"".join(pieces)
            at = feed + 1
        odd ^= piece.count(b'"', at) % 2
        pieces.append(piece)
    return b"".join(pieces)


class _Worker:
    """A child that validates the spans it is given, in order, and sends back their rows."""

    def __init__(self, validator: Validator, failed: mmap.mmap) -> None:
        task_read, self.task_fd = os.pipe()
        read_fd, write_fd = os.pipe()
        with contextlib.suppress(OSError):
            fcntl.fcntl(write_fd, fcntl.F_SETPIPE_SZ, _PIPE_SIZE)
        self.pid = os.fork()
        if self.pid == 0:  # pragma: no cover - the child; coverage does not follow a fork
            os.close(self.task_fd)
            os.close(read_fd)
            _work(validator, task_read, write_fd, failed)
        os.close(task_read)
        os.close(write_fd)
        self.pipe_fd = read_fd
        self.reaped = False

    def give(self, span: Span) -> None:
        _send_fd(self.task_fd, (span.start, span.end, span.first_line))

    def receive(self) -> Any:
        return _receive(self.pipe_fd)

    def pending(self) -> int:
        """Return how many bytes the worker has sent that are not read yet."""
        try:
            queued = fcntl.ioctl(self.pipe_fd, termios.FIONREAD, bytes(4))
        except OSError:  # no way to tell: keep giving the worker work
            return _PIPE_SIZE
        return int.from_bytes(queued, sys.byteorder)

    def close(self) -> None:
        if self.reaped:
            return
        self.reaped = True
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.pid, signal.SIGTERM)
        os.close(self.task_fd)
        os.close(self.pipe_fd)
        os.waitpid(self.pid, 0)


def _work(
    validator: Validator, task_fd: int, out_fd: int, failed: mmap.mmap
) -> None:  # pragma: no cover - runs in a worker
    """Validate each span given, send its rows and then its problems; never return."""

    def work() -> None:
        with open(out_fd, "wb", buffering=0) as out:
            while (task := _receive(task_fd)) is not None:
                _send(out, _validate_span(validator, Span(*task), out, failed))

    _live_as_child(work)


def _live_as_child(body: Callable[[], None]) -> NoReturn:  # pragma: no cover - in a child
    """Run body as a forked child's whole life: exit 0 if it returns, 1 if it raises."""
    gc.disable()  # the batches hold no cycles; collecting them costs a sixth of the time
    signal.signal(signal.SIGINT, signal.SIG_DFL)  # Ctrl-C ends the child quietly
    status = 1
    try:
        body()
        status = 0
    except BaseException:  # interrupted, or the reader went away: the parent reports
        pass
    finally:
        os._exit(status)


def _validate_span(
    validator: Validator, span: Span, out: BinaryIO, failed: mmap.mmap
) -> dict[str, Any]:  # pragma: no cover - runs in a worker
    problems: list[Problem] = []
    line = span.first_line
    try:
        for records in read_records(validator.path, problems, span):
            batch = validator.batch(records, problems)
            if not problems and not failed[0]:
                _send(out, (batch.lines, batch.rows, batch.position))
            line = records.next_line
            if len(problems) >= MAX_PROBLEMS:
                break
    except CutShort:
        return {"cut": True}
    except OSError as err:
        problems.append(Problem(validator.path, None, None, None, f"cannot read: {err}"))
    return {"cut": False, "problems": _to_wire(problems), "next_line": line}


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
        fifo: str,
        encode: Encode,
    ) -> None:
        self.path = path
        self.problems = problems
        self.sent = 0
        self.finished = False
        self.reaped = False
        read_fd, write_fd = os.pipe()
        with contextlib.suppress(OSError):
            fcntl.fcntl(write_fd, fcntl.F_SETPIPE_SZ, _PIPE_SIZE)
        self.pid = os.fork()
        if self.pid == 0:  # pragma: no cover - the child; coverage does not follow a fork
            os.close(read_fd)
            _run(path, loaded_at, write_fd, fifo, encode)
        os.close(write_fd)
        self.pipe_fd = read_fd

    def messages(self) -> Iterator[Any]:
        while (message := _receive(self.pipe_fd)) is not None:
            if isinstance(message, dict):
                self.problems.extend(_from_wire(message["problems"]))
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
        os.close(self.pipe_fd)
        os.waitpid(self.pid, 0)
        self.reaped = True
        if not self.finished:
            self.problems.append(
                Problem(self.path, None, None, None, "the validating process stopped early")
            )


def _run(
    path: Path, loaded_at: str, pipe_fd: int, fifo: str, encode: Encode
) -> None:  # pragma: no cover - runs in the child
    """Validate the file, write its rows into the named pipe, then send the problems."""

    def run() -> None:
        problems: list[Problem] = []
        sent = 0
        with open(pipe_fd, "wb", buffering=0) as pipe:
            out: BinaryIO | None = open(fifo, "wb", buffering=_PIPE_SIZE)  # noqa: SIM115
            try:
                for batch in _by_span(path, loaded_at, problems):
                    if len(problems) >= MAX_PROBLEMS:
                        break
                    if problems:
                        if out is not None:
                            out.close()  # the load has failed: let the server finish early
                            out = None
                        continue
                    if out is not None:
                        out.write(encode(batch.rows))
                        sent += len(batch.rows)
                        _send(pipe, batch.position)
            except BrokenPipeError:
                pass  # the server stopped reading: the parent has its error
            except OSError as err:
                problems.append(Problem(path, None, None, None, f"cannot read: {err}"))
            if out is not None:
                with contextlib.suppress(BrokenPipeError):
                    out.close()
            _send(pipe, {"problems": _to_wire(problems[:MAX_PROBLEMS]), "sent": sent})

    _live_as_child(run)


def _to_wire(problems: list[Problem]) -> list[tuple[Any, ...]]:
    """Turn problems into what marshal can send."""
    return [(str(p.path), p.line, p.column, p.value, p.reason) for p in problems]


def _from_wire(found: list[tuple[Any, ...]], shift: int = 0) -> list[Problem]:
    """Turn sent problems back, their line numbers moved on by shift."""
    return [
        Problem(Path(path), None if line is None else line + shift, *rest)
        for path, line, *rest in found
    ]


def _by_span(
    path: Path, loaded_at: str, problems: list[Problem]
) -> Iterator[Batch]:  # pragma: no cover - runs in the child
    """Yield the file's batches as read_rows does, span by span: most spans split faster."""
    validator = Validator(path, check_header(path) or COLUMNS, loaded_at)
    line = 1
    for span in _spans(path):
        try:
            for records in read_records(path, problems, Span(span.start, span.end, line)):
                yield validator.batch(records, problems)
                line = records.next_line
        except CutShort:  # not a record boundary: read the rest in one piece
            yield from read_rows(path, loaded_at, problems, Span(span.start, None, line))
            return
        if any(p.reason.startswith(MALFORMED) for p in problems):
            return


def _send(pipe: BinaryIO, message: Any) -> None:
    _send_fd(pipe.fileno(), message)


def _send_fd(fd: int, message: Any) -> None:
    """Write one message with as few write calls as the pipe allows (usually one)."""
    data = marshal.dumps(message)
    view = memoryview(_HEADER.pack(len(data)) + data)
    while view:
        view = view[os.write(fd, view) :]


def _receive(fd: int) -> Any:
    """Read one message; None at the end of the pipe."""
    head = _read_exactly(fd, _HEADER.size)
    if head is None:
        return None
    (size,) = _HEADER.unpack(head)
    data = _read_exactly(fd, size)
    return None if data is None else marshal.loads(data)


def _read_exactly(fd: int, size: int) -> bytearray | None:
    # Unbuffered, so that what the kernel holds is all that is unread (see pending()).
    data = bytearray(size)
    view = memoryview(data)
    while view:
        count = os.readv(fd, [view])
        if count == 0:
            return None
        view = view[count:]
    return data
