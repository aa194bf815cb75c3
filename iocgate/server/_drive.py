"""Run a ChannelData coroutine inline when it never suspends, else hand it to a task.

Most ``ChannelData`` operations (a read of a plain PV, a write without a custom putter) finish
without ever waiting. Stepping them synchronously avoids creating a task per request; the
rare one that does suspend is handed, mid-flight, to the back-end's ``spawn`` together with
the object it was waiting on, so it continues exactly as if it had been a task from the start.
Works on asyncio, trio and curio alike: the resumed coroutine's yields are passed through
to the task runner untouched.
"""

from __future__ import annotations

from typing import Any, Awaitable, Callable, Coroutine, Optional

Done = Callable[[Any, Optional[BaseException]], None]
Spawn = Callable[[Awaitable[None]], None]


class _Resume:
    """Awaitable that continues ``coro`` which has already yielded ``yielded`` once."""

    __slots__ = ("coro", "yielded")

    def __init__(self, coro: Coroutine, yielded: Any):
        self.coro = coro
        self.yielded = yielded

    def __await__(self):
        coro, yielded = self.coro, self.yielded
        self.coro = self.yielded = None
        while True:
            try:
                sent = yield yielded
            except GeneratorExit:
                coro.close()
                raise
            except BaseException as exc:  # noqa: B902 - cancellation is forwarded too
                try:
                    yielded = coro.throw(exc)
                except StopIteration as stop:
                    return stop.value
            else:
                try:
                    yielded = coro.send(sent)
                except StopIteration as stop:
                    return stop.value


async def _finish(awaitable: Awaitable, done: Done) -> None:
    try:
        result = await awaitable
    except Exception as exc:
        done(None, exc)
    else:
        done(result, None)


def drive(coro: Coroutine, done: Done, spawn: Spawn, *, inline: bool = True) -> bool:
    """Run ``coro`` and call ``done(result, None)`` or ``done(None, exception)``.

    Args:
        coro: a coroutine from ChannelData (read, write, subscribe, ...).
        done: completion callback; called inline when ``coro`` does not suspend.
        spawn: starts an awaitable as a background task on the running loop.
        inline: step the coroutine right here first. Pass False for user code (putters,
            getters) that may need to run inside a real task (e.g. ``asyncio.timeout``).

    Returns:
        True if ``done`` has been called already; False if a task will call it later
        (or never, when the task is cancelled at shutdown).
    """
    if not inline:
        spawn(_finish(coro, done))
        return False
    try:
        yielded = coro.send(None)
    except StopIteration as stop:
        done(stop.value, None)
        return True
    except Exception as exc:
        done(None, exc)
        return True
    spawn(_finish(_Resume(coro, yielded), done))
    return False
