"""Worker processes for per-file work that threads cannot spread over the cores.

A backup or restore of many small files is bound by per-file Python work (a read, a hash,
a seal; or a verify, a write and its metadata). Threads share the GIL, and handing it from
thread to thread around every small system call cost more CPU than the work itself. Worker
processes each run their loop alone, and exchange whole batches with this process.

A worker is `python -m datamover.workerpool` with two pipes, not a `multiprocessing`
process: those import the parent's main module, which in a CLI or an activity worker is
far heavier than the worker's own. Its arguments name its handler (``"module:factory"``),
whose module it imports at once, before its setup may be known (see `StartedWorkers`). Its
first message is the factory's setup (key material travels through the pipe, never argv or
the environment); then each request gets one answer, in order. A request may carry large
bytes as `pickle.PickleBuffer`s: they are sent after its pickle as they are, instead of
being copied into it, and reach the handler as views of the worker's receive buffer (see
`datamover.frames`); or, cheaper still, as where they are in memory shared with the worker
(see `datamover.sharedmemory`).
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import gc
import importlib
import os
import pickle
import queue
import struct
import subprocess
import sys
import threading
from collections.abc import Callable
from typing import Any, NamedTuple

from datamover.frames import FrameReader, FrameWriter

_WORKER_ENVIRONMENT = ("PATH", "LANG", "LC_ALL", "LC_CTYPE", "PYTHONUTF8", "TMPDIR")
REQUESTS_PER_WORKER = 2
"""Requests sent to a worker before its first answer is read: it never waits for us."""
WORKER_BASELINE = 64 * 1024 * 1024
"""A worker's interpreter and libraries (measured: 43-60 MiB)."""

PIPE_BYTES = 1 << 20
"""Each pipe's buffer. Linux gives a pipe 64 KiB, so an answer of small files' sealed
blobs (~0.5 MiB) or a restore's range crossed it 64 KiB at a time, each side woken for
every piece; 1 MiB is what an unprivileged process may ask for. Measured: 2-3% off the
small-file backup and both restores of the benchmark."""

WORTH_A_POOL = 500
"""Small files below which threads do the work, unless workers were asked for: starting
them (~0.14 s of CPU each: the interpreter and the handler's imports) costs more than
threads take for this many (300 files of 8 KiB: 0.91 s restored by threads, 1.03 s by two
workers)."""

Callback = Callable[[Any], None]
"""Called with a request's answer, or with the exception that stopped its worker."""


class WorkerFailedError(Exception):
    """A worker process ended or could not be reached."""


class WorkerPool:
    """Worker processes serving requests with one handler. Callbacks run on the pool's
    threads (one per worker), one answer at a time, in each worker's submission order."""

    def __init__(
        self,
        handler: str,
        setup: object,
        processes: int,
        shared_fd: int | None = None,
        *,
        started: StartedWorkers | None = None,
    ) -> None:
        """`shared_fd`: memory the workers map (see `datamover.sharedmemory`). `started`:
        workers started earlier with the same handler and memory, taken first."""
        if started is not None and (started.handler, started.shared_fd) != (handler, shared_fd):
            raise ValueError("the started workers serve another handler or memory")
        self._queue: queue.SimpleQueue[tuple[object, Callback] | None] = queue.SimpleQueue()
        self._workers: list[_Worker] = [] if started is None else started.take(processes)
        self._threads: list[threading.Thread] = []
        try:
            while len(self._workers) < processes:
                self._workers.append(_Worker.start(handler, shared_fd))
            for worker in self._workers:
                worker.send(setup)
        except BaseException:
            self.close(kill=True)
            raise
        for worker in self._workers:
            thread = threading.Thread(
                target=self._drive, args=(worker,), name="worker-pool", daemon=True
            )
            thread.start()
            self._threads.append(thread)

    def submit(self, request: object, callback: Callback) -> None:
        self._queue.put((request, callback))

    def map(self, requests: list[object]) -> list[Any]:
        """Every request's answer (or the exception that stopped its worker), in order;
        waits for all of them."""
        answers: list[Any] = [None] * len(requests)
        done = threading.Semaphore(0)

        def answered(index: int, answer: Any) -> None:
            answers[index] = answer
            done.release()

        for index, request in enumerate(requests):
            self.submit(request, functools.partial(answered, index))
        for _ in requests:
            done.acquire()
        return answers

    def close(self, *, kill: bool = False) -> None:
        """Finish the submitted requests (unless `kill`) and stop the workers."""
        if kill:
            for worker in self._workers:
                worker.kill()
        for _ in self._threads:
            self._queue.put(None)
        for thread in self._threads:
            thread.join()
        for worker in self._workers:  # all at once: each exits as it sees the end
            worker.end_requests()
        for worker in self._workers:
            worker.stop()

    def _drive(self, worker: _Worker) -> None:
        """Keep one worker busy: send up to `REQUESTS_PER_WORKER` ahead of its answers.

        Answers are read by a thread of their own: a request and an answer can each be
        larger than a pipe's buffer, and one thread writing a request while the worker
        writes an answer would wait for the other forever."""
        link = _Link(worker)
        receiver = threading.Thread(target=link.receive_loop, name="worker-pool", daemon=True)
        receiver.start()
        try:
            while True:
                item = self._queue.get()
                if item is None:
                    break
                link.send(*item)
        finally:
            link.end()
            receiver.join()


class StartedWorkers:
    """Worker processes started before their setup is known: their interpreter and their
    handler's module load meanwhile. A restore starts them while it derives its key and
    reads the index, when a core is otherwise idle; a `WorkerPool` takes them later."""

    def __init__(self, handler: str, processes: int, shared_fd: int | None = None) -> None:
        self.handler = handler
        self.shared_fd = shared_fd
        self._workers: list[_Worker] = []
        try:
            for _ in range(processes):
                self._workers.append(_Worker.start(handler, shared_fd))
        except BaseException:
            self.close()
            raise

    def take(self, processes: int) -> list[_Worker]:
        """Up to `processes` of the workers, theirs from now on."""
        taken, self._workers = self._workers[:processes], self._workers[processes:]
        return taken

    def keep(self, processes: int) -> None:
        """Stop the workers beyond the first `processes` (fewer fit in memory)."""
        kept, self._workers = self._workers[:processes], self._workers[processes:]
        self.close()
        self._workers = kept

    def close(self) -> None:
        """Stop the workers not taken: killed, as they have no work (and may still be
        loading)."""
        workers, self._workers = self._workers, []
        for worker in workers:
            worker.kill()
        for worker in workers:
            worker.stop()


class _Link:
    """One worker's requests in flight: their callbacks in order, the first failure, and
    the slots that bound how many are sent ahead."""

    def __init__(self, worker: _Worker) -> None:
        self.worker = worker
        self.callbacks: queue.SimpleQueue[Callback | None] = queue.SimpleQueue()
        self.slots = threading.Semaphore(REQUESTS_PER_WORKER)
        self.error: BaseException | None = None

    def send(self, request: object, callback: Callback) -> None:
        self.slots.acquire()
        if self.error is not None:
            self.slots.release()
            callback(self.error)
            return
        try:
            message = _Message.of(request)
        except BaseException as exc:
            self.slots.release()
            callback(exc)
            return
        self.callbacks.put(callback)
        try:
            self.worker.send_message(message)
        except BaseException:
            # The worker is gone (or made sure to be): reading the answer fails, and says
            # how the worker ended.
            self.worker.kill()

    def end(self) -> None:
        self.callbacks.put(None)

    def receive_loop(self) -> None:
        while (callback := self.callbacks.get()) is not None:
            answer: Any
            if self.error is not None:
                answer = self.error
            else:
                try:
                    answer = self.worker.receive()
                except BaseException as exc:
                    answer = WorkerFailedError(
                        f"worker process failed: {self.worker.describe_end(exc)}"
                    )
                    self.error = answer
            self.slots.release()
            callback(answer)


class _Worker:
    """One worker process and its two pipes."""

    def __init__(
        self, process: subprocess.Popen[bytes], requests: FrameWriter, answers: FrameReader
    ) -> None:
        self._process = process
        self._requests = requests
        self._answers = answers

    @classmethod
    def start(cls, handler: str, shared_fd: int | None = None) -> _Worker:
        """A worker process loading `handler`'s module; its setup is its first message."""
        request_r, request_w = os.pipe()
        answer_r, answer_w = os.pipe()
        for fd in (request_w, answer_w):
            _widen_pipe(fd)
        shared = () if shared_fd is None else (shared_fd,)
        try:
            process = subprocess.Popen(
                [sys.executable, "-m", __name__, str(request_r), str(answer_w), handler]
                + [str(fd) for fd in shared],
                pass_fds=(request_r, answer_w, *shared),
                stdin=subprocess.DEVNULL,
                env=worker_environment(),
            )
        except BaseException:
            for fd in (request_r, request_w, answer_r, answer_w):
                os.close(fd)
            raise
        os.close(request_r)
        os.close(answer_w)
        return cls(process, FrameWriter(request_w), FrameReader(answer_r))

    def send(self, message: object) -> None:
        self.send_message(_Message.of(message))

    def send_message(self, message: _Message) -> None:
        message.send(self._requests)

    def receive(self) -> Any:
        return pickle.loads(self._answers.frame())  # noqa: S301 - our own child

    def describe_end(self, exc: BaseException) -> str:
        """Why talking to the worker failed: mostly, that it is gone."""
        try:
            code = self._process.wait(timeout=1)
        except subprocess.TimeoutExpired:
            return repr(exc)
        return f"its process ended with exit code {code}"

    def kill(self) -> None:
        with contextlib.suppress(OSError):
            self._process.kill()

    def end_requests(self) -> None:
        """No more requests: the worker exits once it has answered the last."""
        self._requests.close()

    def stop(self) -> None:
        self.end_requests()
        try:
            self._process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
        self._answers.close()


class _Message(NamedTuple):
    """A request as sent: one frame (how many out-of-band buffers, their sizes, the pickle),
    then the buffers' bytes as they are."""

    head: bytes
    buffers: list[pickle.PickleBuffer]

    @classmethod
    def of(cls, request: object) -> _Message:
        buffers: list[pickle.PickleBuffer] = []
        data = pickle.dumps(request, protocol=5, buffer_callback=buffers.append)
        if len(buffers) > 255:
            raise ValueError("a request carries at most 255 out-of-band buffers")
        sizes = [buffer.raw().nbytes for buffer in buffers]
        head = struct.pack(f"<B{len(sizes)}Q", len(sizes), *sizes)
        return cls(head + data, buffers)

    def send(self, writer: FrameWriter) -> None:
        writer.write(self.head, *(buffer.raw() for buffer in self.buffers))

    @staticmethod
    def receive(reader: FrameReader) -> Any:
        """The next request, its buffers as read-only views of `reader`'s buffer (valid
        until the next request is received); EOFError once there are no more."""
        head = reader.frame()
        count = head[0]
        sizes = struct.unpack_from(f"<{count}Q", head, 1)
        raw = reader.raw(sum(sizes))
        buffers, offset = [], 0
        for size in sizes:
            buffers.append(raw[offset : offset + size])
            offset += size
        return pickle.loads(head[1 + 8 * count :], buffers=buffers)  # noqa: S301 - our parent


def echo(setup: object) -> Callable[[object], object]:
    """A handler that answers each request with `(setup, request)`: a worker's health check."""
    return lambda request: (setup, _owned(request))


def _owned(value: object) -> object:
    """`value` with the views of the receive buffer in it (a request's buffers) copied."""
    if isinstance(value, memoryview):
        return value.tobytes()
    if isinstance(value, tuple | list):
        return type(value)(_owned(item) for item in value)
    return value


def _widen_pipe(fd: int) -> None:
    """Give the pipe `PIPE_BYTES` of buffer where the system allows it (Linux does up to
    /proc/sys/fs/pipe-max-size); elsewhere it keeps its own."""
    set_size = getattr(fcntl, "F_SETPIPE_SZ", None)
    if set_size is not None:
        with contextlib.suppress(OSError):
            fcntl.fcntl(fd, set_size, PIPE_BYTES)


def worker_environment() -> dict[str, str]:
    """What a worker needs of this process's environment (no secrets: it needs none), with
    this package importable whatever the working directory."""
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    path = os.environ.get("PYTHONPATH")
    env = {name: os.environ[name] for name in _WORKER_ENVIRONMENT if name in os.environ}
    env["PYTHONPATH"] = f"{root}{os.pathsep}{path}" if path else root
    return env


def _serve(requests: FrameReader, answers: FrameWriter, handler: str) -> None:
    gc.disable()  # short-lived, and the handlers make no reference cycles
    module_name, factory = handler.split(":")
    make_handler = getattr(importlib.import_module(module_name), factory)
    try:
        setup = _Message.receive(requests)
    except EOFError:
        return  # started, and not needed after all
    serve_one = make_handler(setup)
    while True:
        try:
            request = _Message.receive(requests)
        except EOFError:
            return
        answer = serve_one(request)
        try:
            answers.write(pickle.dumps(answer, protocol=pickle.HIGHEST_PROTOCOL))
        except BrokenPipeError:
            return  # the parent is gone (killed): nobody wants the answer


if __name__ == "__main__":
    # Through the module's real name, like everything the handlers pickle.
    from datamover import workerpool

    if len(sys.argv) > 4:
        from datamover import sharedmemory

        sharedmemory.attach(int(sys.argv[4]))
    workerpool._serve(FrameReader(int(sys.argv[1])), FrameWriter(int(sys.argv[2])), sys.argv[3])
    # Every answer is written; tearing the interpreter down would only delay the caller,
    # who waits for this exit.
    os._exit(0)
