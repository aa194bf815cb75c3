"""A line-oriented instrument simulator served over TCP and pseudo-terminals, with fault injection.

:class:`LineSimulator` wraps a plain ``handler(line) -> reply`` function. It runs in ordinary
threads (one accept thread, one thread per client link), so it works beside an asyncio, trio or
curio IOC in the same process as well as standalone. Handler calls are serialised by one lock,
so handlers need no locking of their own.

Fault injection (:class:`Faults`) covers what real instruments do to drivers: hang up, answer
late, stop answering, answer rubbish, refuse connections, and come back on the same port.
"""

from __future__ import annotations

import logging
import os
import select
import shutil
import socket
import tempfile
import threading
import tty
import weakref
from typing import Any, Callable, List, Optional, Set, Tuple

__all__ = ["GARBAGE", "Faults", "LineSimulator"]

log = logging.getLogger(__name__)

#: What :attr:`Faults.garbage` sends instead of a reply (the terminator is appended).
GARBAGE = b"\x15#!?garbage"

_MAX_LINE = 65536  # bytes buffered without a terminator before the partial line is discarded
_JOIN_TIMEOUT = 5.0  # s, how long stop() waits for each worker thread


class Faults:
    """Faults applied by a running :class:`LineSimulator`; change them at any time.

    Attributes:
        delay: seconds to wait before sending each reply (0 = none). A stop or a dropped
            connection cuts the wait short and the reply is not sent.
        withhold: read and record commands but never pass them to the handler nor reply
            (a hung instrument).
        garbage: pass commands to the handler (so sets take effect) but send :data:`GARBAGE`
            plus the terminator in place of every reply.
        refuse: TCP: accept new connections and close them at once (including clients
            whose connect completed in the kernel but that the simulator had not accepted yet).
            Pseudo-terminal: one hung up by :meth:`drop_connections` is not replaced until
            ``refuse`` is cleared (an unplugged cable).
    """

    def __init__(self, drop: Callable[[], None], replug: Callable[[], None]):
        self._drop = drop
        self._replug = replug
        self._refuse = False
        self.clear()

    @property
    def refuse(self) -> bool:
        return self._refuse

    @refuse.setter
    def refuse(self, on: bool) -> None:
        self._refuse = bool(on)
        if not on:
            self._replug()

    def clear(self) -> None:
        """Remove every fault (connections already dropped stay dropped; a pseudo-terminal
        kept away by :attr:`refuse` comes back)."""
        self.delay: float = 0.0
        self.withhold: bool = False
        self.garbage: bool = False
        self.refuse = False

    def drop_connections(self) -> None:
        """Close every current client link now.

        TCP clients see end-of-file (or a reset). A pseudo-terminal is hung up: its master side
        is closed, so the client's reads fail, and (unless :attr:`refuse` is set) a fresh
        pseudo-terminal is opened in its place (:attr:`LineSimulator.pty_path` changes; a
        ``link`` given to :meth:`LineSimulator.start_pty` is re-pointed).
        """
        self._drop()


class _Link:
    """One client byte stream (a TCP socket or a pty master) served by its own thread.

    Only the serving thread closes the file descriptor; other threads call :meth:`hang_up`,
    which wakes that thread through a socket pair.
    """

    def __init__(self, fd: int, recv: Callable[[int], bytes], send: Callable[[bytes], int],
                 close: Callable[[], None], label: str):
        self.fd = fd
        self.recv = recv
        self.send = send
        self.close_fd = close
        self.label = label
        self.closed = threading.Event()
        self._wake_r, self._wake_w = socket.socketpair()
        self.thread: Optional[threading.Thread] = None

    def hang_up(self) -> None:
        if not self.closed.is_set():
            self.closed.set()
            try:
                self._wake_w.send(b"x")
            except OSError:
                pass

    def _wait(self, events: int) -> bool:
        """Block until ``fd`` has ``events`` (or an error/hang-up); False once hung up."""
        poller = select.poll()  # not select(): fds above 1024 are fine
        poller.register(self.fd, events)
        poller.register(self._wake_r, select.POLLIN)
        poller.poll()
        return not self.closed.is_set()

    def wait_readable(self) -> bool:
        """Block until there is input (or EOF); False once hung up."""
        return self._wait(select.POLLIN)

    def write_all(self, data: bytes) -> bool:
        """Send everything unless hung up first; False if the link is gone."""
        view = memoryview(data)
        while view and self._wait(select.POLLOUT):
            try:
                view = view[self.send(view):]
            except BlockingIOError:
                continue
            except OSError:
                return False
        return not view

    def finish(self) -> None:
        self.closed.set()
        for closer in (self.close_fd, self._wake_r.close, self._wake_w.close):
            try:
                closer()
            except OSError:
                pass


class LineSimulator:
    """Serve ``handler`` line by line over TCP and/or a pseudo-terminal.

    Args:
        handler: called with each received line (terminator stripped, decoded with
            ``encoding``; undecodable bytes become U+FFFD). Returns the reply line without
            terminator (``str``, or ``bytes`` sent as they are), or ``None`` for no reply.
            Exceptions are logged and give no reply. Empty lines are ignored.
        terminator: line terminator for input and output. With ``"\\n"`` or ``"\\r\\n"`` input
            lines may end in either (a trailing ``"\\r"`` is stripped).
        encoding: text encoding on the wire.
        name: used in thread names and log messages.

    Several TCP clients may be connected at once; each reply goes to the client that asked.
    """

    def __init__(self, handler: Callable[[str], Any], terminator: str = "\n",
                 encoding: str = "ascii", name: str = "sim"):
        if not terminator:
            raise ValueError("terminator must not be empty")
        self.handler = handler
        self.terminator = terminator
        self.encoding = encoding
        self.name = name
        self._lock = threading.Lock()  # guards the fields below
        self._handler_lock = threading.Lock()
        self._received: List[str] = []
        self._links: Set[_Link] = set()
        self._listener: Optional[_Link] = None
        self._tcp: Optional[Tuple[str, int]] = None  # last bound (host, port), kept for restart
        self._pty: Optional[_Link] = None
        self._pty_slave_fd: Optional[int] = None
        self._pty_path: Optional[str] = None
        self._pty_link: Optional[str] = None
        self._pty_wanted = False
        self._pty_served = False  # a pty was served before the last stop (for restart)
        self.faults = Faults(self._drop_all, self._replug)

    # ------------------------------------------------------------------ public API
    @property
    def address(self) -> Optional[Tuple[str, int]]:
        """``(host, port)`` of the TCP listener, or ``None`` if TCP was never started."""
        return self._tcp

    @property
    def port(self) -> Optional[int]:
        """The bound TCP port, or ``None``."""
        return self._tcp[1] if self._tcp else None

    @property
    def pty_path(self) -> Optional[str]:
        """Slave path of the current pseudo-terminal (e.g. ``/dev/pts/7``), or ``None``."""
        return self._pty_path

    @property
    def received(self) -> List[str]:
        """A snapshot of every line received so far, in arrival order."""
        with self._lock:
            return list(self._received)

    def clear_received(self) -> None:
        """Forget the lines received so far."""
        with self._lock:
            self._received.clear()

    def start_tcp(self, port: int = 0, host: str = "127.0.0.1") -> int:
        """Listen on ``host:port`` (0 = an ephemeral port) and return the bound port.

        ``SO_REUSEADDR`` is set so that :meth:`restart` can bind the same port again at once.

        Raises:
            RuntimeError: TCP is already being served.
            OSError: the port cannot be bound.
        """
        with self._lock:
            if self._listener is not None:
                raise RuntimeError(f"{self.name}: TCP already started on {self._tcp}")
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((host, port))
            sock.listen(16)
            sock.setblocking(False)  # a client gone before accept() must not block the loop
        except OSError:
            sock.close()
            raise
        bound = sock.getsockname()[:2]
        listener = _Link(sock.fileno(), sock.recv, sock.send, sock.close, f"tcp://{host}:{bound[1]}")
        with self._lock:
            self._tcp = (bound[0], bound[1])
            self._listener = listener
        self._spawn(listener, self._accept_loop, sock)
        log.debug("%s listening on %s:%d", self.name, *bound)
        return bound[1]

    def start_pty(self, link: Optional[str] = None) -> str:
        """Open a pseudo-terminal in raw mode and serve its master side.

        Args:
            link: optional path of a symlink kept pointing at the current slave, so clients
                can reopen the same path after :meth:`Faults.drop_connections` or
                :meth:`restart` (which open a new pseudo-terminal).

        Returns:
            The slave path (e.g. ``/dev/pts/7``) for ``serial.Serial(path)``.

        Raises:
            RuntimeError: a pseudo-terminal is already being served.
        """
        with self._lock:
            if self._pty is not None:
                raise RuntimeError(f"{self.name}: pty already started at {self._pty_path}")
            self._pty_link = link
            self._pty_wanted = True
        return self._open_pty()

    def start_pty_link(self) -> str:
        """:meth:`start_pty` with a symlink in a new temporary directory; returns the link's
        path, which stays valid across :meth:`Faults.drop_connections` and :meth:`restart`
        (a client reopening it reaches the new pseudo-terminal). The directory is removed
        when the simulator is garbage-collected or the process exits."""
        directory = tempfile.mkdtemp(prefix=f"{self.name}-")
        weakref.finalize(self, shutil.rmtree, directory, True)
        link = os.path.join(directory, "tty")
        self.start_pty(link)
        return link

    def stop(self) -> None:
        """Close the listener and every link, and wait for the worker threads to end.

        Safe to call more than once. Lines being delayed are not answered.
        """
        with self._lock:
            links = [x for x in (self._listener, self._pty) if x is not None]
            links.extend(self._links)
            self._listener = None
            self._pty_served = self._pty_served or self._pty_wanted
            self._pty = None
            self._pty_wanted = False
        for item in links:
            item.hang_up()
        for item in links:
            if item.thread is not None and item.thread is not threading.current_thread():
                item.thread.join(_JOIN_TIMEOUT)
        self._close_pty_slave()

    def restart(self) -> None:
        """Stop (if running), then serve again: TCP on the host and port last served, and a
        new pseudo-terminal if one was served (re-pointing its ``link``)."""
        with self._lock:
            tcp = self._tcp
            pty = self._pty_wanted or self._pty_served
        self.stop()
        if tcp is not None:
            self.start_tcp(tcp[1], tcp[0])
        if pty:
            with self._lock:
                self._pty_wanted = True
            self._open_pty()

    def __enter__(self) -> LineSimulator:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # ------------------------------------------------------------------ internals
    def _spawn(self, link: _Link, target: Callable[..., None], *args: object) -> None:
        link.thread = threading.Thread(target=target, args=(link, *args), daemon=True,
                                       name=f"{self.name}:{link.label}")
        link.thread.start()

    def _accept_loop(self, listener: _Link, sock: socket.socket) -> None:
        try:
            while listener.wait_readable():
                try:
                    conn, peer = sock.accept()
                except OSError:
                    continue
                if self.faults.refuse:
                    conn.close()
                    continue
                conn.setblocking(True)
                conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                link = _Link(conn.fileno(), conn.recv, conn.send, conn.close,
                             f"tcp://{peer[0]}:{peer[1]}")
                with self._lock:
                    if self._listener is not listener:  # stopped meanwhile
                        conn.close()
                        break
                    self._links.add(link)
                self._spawn(link, self._serve)
        finally:
            listener.finish()

    def _open_pty(self) -> str:
        master, slave = os.openpty()
        tty.setraw(slave)
        os.set_blocking(master, False)
        path = os.ttyname(slave)
        link = _Link(master, lambda n: os.read(master, n), lambda b: os.write(master, b),
                     lambda: os.close(master), f"pty:{path}")
        with self._lock:
            old_slave = self._pty_slave_fd
            self._pty, self._pty_slave_fd, self._pty_path = link, slave, path
            target = self._pty_link
        if old_slave is not None:
            os.close(old_slave)
        if target is not None:
            tmp = f"{target}.{os.getpid()}.tmp"
            os.symlink(path, tmp)
            os.replace(tmp, target)
        self._spawn(link, self._serve)
        return path

    def _close_pty_slave(self) -> None:
        with self._lock:
            slave, self._pty_slave_fd = self._pty_slave_fd, None
        if slave is not None:
            os.close(slave)

    def _drop_all(self) -> None:
        with self._lock:
            links = list(self._links)
            pty, self._pty = self._pty, None
        for link in links:
            link.hang_up()
        if pty is not None:
            pty.hang_up()
            if pty.thread is not None:
                pty.thread.join(_JOIN_TIMEOUT)
            if not self.faults.refuse:
                self._replug()

    def _replug(self) -> None:
        """Open a pseudo-terminal again if one is served and none is open."""
        with self._lock:
            reopen = self._pty_wanted and self._pty is None
        if reopen:
            self._open_pty()

    def _split(self, buffer: bytes) -> Tuple[List[bytes], bytes]:
        """Complete lines in ``buffer`` (terminators removed) and the unterminated rest.
        A subclass framing messages otherwise overrides it and :meth:`_encode`."""
        term = self.terminator.encode(self.encoding)
        lenient = self.terminator in ("\n", "\r\n")
        sep = b"\n" if lenient else term
        *lines, rest = buffer.split(sep)
        if lenient:
            lines = [line.rstrip(b"\r") for line in lines]
        if len(rest) > _MAX_LINE:
            log.warning("%s: discarding %d bytes without terminator", self.name, len(rest))
            rest = b""
        return lines, rest

    def _serve(self, link: _Link) -> None:
        buffer = b""
        try:
            while link.wait_readable():
                try:
                    chunk = link.recv(4096)
                except BlockingIOError:
                    continue
                except OSError:
                    break
                if not chunk:
                    break
                lines, buffer = self._split(buffer + chunk)
                for raw in lines:
                    if raw and not self._answer(link, raw.decode(self.encoding, "replace")):
                        return
        finally:
            link.finish()
            with self._lock:
                self._links.discard(link)

    def _answer(self, link: _Link, line: str) -> bool:
        """Handle one line; False if the link went away."""
        with self._lock:
            self._received.append(line)
        faults = self.faults
        if faults.withhold:
            return True
        try:
            with self._handler_lock:
                reply = self.handler(line)
        except Exception:
            log.exception("%s: handler failed on %r", self.name, line)
            return True
        if reply is None:
            return True
        if faults.delay > 0 and link.closed.wait(faults.delay):
            return False
        return link.write_all(self._encode(GARBAGE if faults.garbage else reply))

    def _encode(self, reply: Any) -> bytes:
        """The bytes sent for ``reply``: text encoded, or bytes (an IEEE 488.2 block) as they
        are, then the terminator. A subclass framing messages otherwise overrides it and
        :meth:`_split`."""
        data = reply if isinstance(reply, bytes) else reply.encode(self.encoding, "replace")
        return data + self.terminator.encode(self.encoding)
