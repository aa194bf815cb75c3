"""PVs made at run time from what a task offers: a script's exported nodes and public
functions, a loop task's settings. Each becomes a pvproperty of a group class built here."""

from __future__ import annotations

import dataclasses
import enum
import inspect
import shlex
import threading
import time
import typing
from types import ModuleType
from typing import Any, Awaitable, Callable, Dict, List, Optional, Tuple

from caproto import AlarmSeverity, AlarmStatus, ChannelType

from .. import _compat
from ..ioc import PutCompletion, pvproperty
from ..nodes import ControlNode
from ._core import STATUS, log
from ._kinds import Kind, kind_of
from ._loop import READOUT, LoopTask
from ._pvs import LoopTaskPVs, TaskPVs, in_thread, show_value
from ._script import Export, ScriptTask, commands_of, exports_of

#: seconds between polls of an exported node that gives no ``period`` option
DEFAULT_POLL_PERIOD = 1.0
#: characters of a command's result kept in ``<func>_RESULT`` (a DBR_STRING)
RESULT_LENGTH = 39


class CommandStatus(enum.IntEnum):
    Idle = 0
    Running = 1
    Done = 2
    Error = 3


# -- script exports -------------------------------------------------------------------------
class _ServedExport:
    """An exported node with its PV kind and poll period.

    Attributes:
        puts: counts put starts and ends; a poll that read the node while a put was under
            way (the count changed meanwhile) is stale and dropped.
    """

    def __init__(self, export: Export, kind: Kind, period: float, attr: str):
        self.export = export
        self.kind = kind
        self.period = period
        self.attr = attr
        self.puts = 0

    @property
    def node(self) -> Any:
        return self.export.node


def _read(served: _ServedExport) -> Tuple[Any, int]:
    """``(value or the exception reading it raised, put count before the read)``; a value of
    ``None`` means no data yet (a setpoint never written) and is not shown."""
    puts = served.puts
    try:
        return served.node.get(), puts
    except Exception as exc:  # shown as an alarm on the PV
        return exc, puts


def _overrides(node: Any, method: str) -> bool:
    return getattr(type(node), method, None) is not getattr(ControlNode, method)


def _node_attribute(node: Any, name: str) -> Any:
    """``name`` of the node or of a node it wraps (``ramping()`` over ``setpoint()``)."""
    while node is not None:
        value = getattr(node, name, None)
        if value is not None:
            return value
        node = getattr(node, "target", None)
    return None


def _export_property(served: _ServedExport) -> pvproperty:
    export, kind = served.export, served.kind
    options = export.options
    limits = options.get("limits") or _node_attribute(export.node, "limits")
    if limits is not None and tuple(limits) == (None, None):
        limits = None
    if limits is not None and None in tuple(limits):
        low, high = limits
        limits = (-1e300 if low is None else low, 1e300 if high is None else high)
    doc = options.get("doc") or _node_attribute(export.node, "doc") or (
        f"Exported node {export.name} ({type(export.node).__name__})")
    kwargs = dict(kind.kwargs)
    for key in ("units", "precision"):
        value = options.get(key, _node_attribute(export.node, key))
        if value is not None and kind.numeric:
            kwargs[key] = value
    if limits is not None and kind.numeric:
        kwargs["limits"] = tuple(limits)
    writable = _overrides(export.node, "set")
    return pvproperty(name=export.name, value=kind.initial, read_only=not writable,
                      put=_put_export if writable else None, doc=doc, **kwargs)


async def _put_export(group: Any, instance: Any, value: Any) -> Any:
    served = group.served_exports[instance.pvspec.attr]
    python_value = served.kind.to_python(value)
    served.puts += 1
    try:
        await _compat.wait_future(in_thread(served.node.set, python_value,
                                            name=f"put {served.export.name}"))
    finally:
        served.puts += 1
    return value


class ScriptPVs(TaskPVs):
    """A script's task PVs plus its exports and commands (subclassed per script by
    :func:`script_ioc`)."""

    served_exports: Dict[str, _ServedExport]
    commands: Dict[str, Callable[..., Any]]

    def __init__(self, prefix: Optional[str] = None, **kwargs: Any):
        super().__init__(prefix, **kwargs)
        self._closed = threading.Event()
        self._running_commands: set = set()
        by_name = {served.export.name: served for served in self.served_exports.values()}
        for served in self.served_exports.values():
            if _overrides(served.node, "get"):
                served.node.add_receiver(lambda node, value, key=served.export.name:
                                         self.task.mailbox.post(key, (value, None)))
        self._by_name = by_name

    @property
    def _polled(self) -> List[_ServedExport]:
        return [served for served in self.served_exports.values()
                if served.period > 0 and _overrides(served.node, "get")]

    async def on_startup(self) -> None:
        polled = self._polled
        if polled:
            threading.Thread(target=self._poll, args=(polled,), name=f"poll {self.task.name}",
                             daemon=True).start()

    def close(self, timeout: Optional[float] = 10.0) -> bool:
        self._closed.set()
        return super().close(timeout)

    def _poll(self, polled: List[_ServedExport]) -> None:
        """Read every polled node when due (in this thread) and post the values."""
        due = {id(served): time.monotonic() for served in polled}
        while True:
            now = time.monotonic()
            for served in polled:
                if due[id(served)] > now:
                    continue
                due[id(served)] = now + served.period
                self.task.mailbox.post(served.export.name, _read(served))
            if self._closed.wait(max(0.0, min(due.values()) - time.monotonic())):
                return

    async def _show_polled_now(self) -> None:
        """Read and show the polled nodes now (what a command changed shows when its put
        completes, not at the next poll)."""
        polled = self._polled
        items = await _compat.wait_future(in_thread(lambda: [_read(s) for s in polled],
                                                    name=f"read {self.task.name}"))
        for served, item in zip(polled, items):
            await self.show_item(served.export.name, item)

    async def show_item(self, key: str, item: Any) -> None:
        """Publish a delivered ``(value, None)`` or polled ``(value, put count at the read)``
        item (a poll that raced a put is dropped)."""
        served = self._by_name.get(key)
        value, puts = item
        if served is None or value is None or puts not in (None, served.puts):
            return
        channel = getattr(self, served.attr)
        if not isinstance(value, BaseException):
            try:
                value = served.kind.to_pv(value)
            except (TypeError, ValueError) as exc:
                value = exc
        await show_value(channel, value)

    async def call_command(self, name: str, text: str) -> Awaitable[None]:
        """Start command ``name`` with the arguments in ``text``: show it Running and return
        the call, which runs it in its own thread and shows its status and result.

        Raises:
            ValueError: it is busy, or the arguments do not fit (nothing runs). The returned
                call raises what the command raised.
        """
        fn = self.commands[name]
        if name in self._running_commands:
            raise ValueError(f"{name}() is still running")
        args, kwargs = parse_arguments(fn, text)
        status = getattr(self, f"cmd_{name}_status")
        self._running_commands.add(name)
        await status.write(CommandStatus.Running.name, verify_value=False,
                           status=AlarmStatus.NO_ALARM, severity=AlarmSeverity.NO_ALARM)
        return self._run_command(name, text, fn, args, kwargs)

    async def _run_command(self, name: str, text: str, fn: Callable[..., Any], args: list,
                           kwargs: dict) -> None:
        status = getattr(self, f"cmd_{name}_status")
        result = getattr(self, f"cmd_{name}_result")
        try:
            value = await _compat.wait_future(in_thread(fn, *args, name=f"command {name}",
                                                        **kwargs))
        except Exception as exc:
            log.exception("%s: command %s(%s) raised", self.task.name, name, text)
            self.task.last_error = f"{name}(): {type(exc).__name__}: {exc}"
            self.task.mailbox.post(STATUS)
            await result.write(f"{type(exc).__name__}: {exc}"[:RESULT_LENGTH],
                               verify_value=False)
            await status.write(CommandStatus.Error.name, verify_value=False,
                               status=AlarmStatus.STATE, severity=AlarmSeverity.MINOR_ALARM)
            raise
        finally:
            self._running_commands.discard(name)
            await self._show_polled_now()
        await result.write(("" if value is None else str(value))[:RESULT_LENGTH],
                           verify_value=False)
        await status.write(CommandStatus.Done.name, verify_value=False)


def parse_arguments(fn: Callable[..., Any], text: str) -> Tuple[list, dict]:
    """Arguments for ``fn`` from a put's text: values separated by spaces or commas,
    ``name=value`` for keywords, shell quoting for text with spaces; each converted to the
    parameter's annotation (``float``, ``int``, ``bool``, ``str``), or guessed (int, float,
    else text) without one. A function without parameters ignores the text.

    Raises:
        ValueError: the arguments do not fit the signature or do not convert.
    """
    signature = inspect.signature(fn)
    if not signature.parameters:
        return [], {}
    try:
        tokens = shlex.split(str(text).replace(",", " "))
    except ValueError as exc:
        raise ValueError(f"{fn.__name__}(): {exc}") from None
    args: list = []
    kwargs: dict = {}
    for token in tokens:
        key, sep, value = token.partition("=")
        if sep and key in signature.parameters:
            kwargs[key] = value
        else:
            args.append(token)
    try:
        bound = signature.bind(*args, **kwargs)
    except TypeError as exc:
        raise ValueError(f"{fn.__name__}(): {exc}") from None
    try:
        hints = typing.get_type_hints(fn)
    except Exception:  # unresolvable annotations: guess every value
        hints = {}
    for name, value in list(bound.arguments.items()):
        bound.arguments[name] = _convert_argument(fn.__name__, name, value, hints.get(name))
    return list(bound.args), dict(bound.kwargs)


def _convert_argument(fn_name: str, name: str, text: str, kind: Any) -> Any:
    try:
        if kind is bool:
            lowered = text.strip().lower()
            if lowered not in ("0", "1", "true", "false", "on", "off", "yes", "no"):
                raise ValueError(f"not a boolean: {text!r}")
            return lowered in ("1", "true", "on", "yes")
        if kind in (int, float, str):
            return kind(text)
    except ValueError as exc:
        raise ValueError(f"{fn_name}(): {name}: {exc}") from None
    for guess in (int, float):
        try:
            return guess(text)
        except ValueError:
            pass
    return text


def _command_properties(name: str, fn: Callable[..., Any]) -> Dict[str, pvproperty]:
    params = ", ".join(inspect.signature(fn).parameters)
    summary = (inspect.getdoc(fn) or "").split("\n")[0]
    call = pvproperty(name=name, dtype=ChannelType.STRING, value="", put=_put_command,
                      doc=f"Put the arguments ({params or 'any value'}) to call {name}() "
                          f"in its own thread. {summary}".strip())
    result = pvproperty(name=f"{name}_RESULT", dtype=ChannelType.STRING, value="",
                        read_only=True, doc=f"What the last {name}() call returned (text)")
    status = pvproperty(name=f"{name}_STATUS", dtype=CommandStatus, value=CommandStatus.Idle,
                        read_only=True, doc=f"{name}() Idle/Running/Done/Error")
    return {f"cmd_{name}": call, f"cmd_{name}_result": result, f"cmd_{name}_status": status}


async def _put_command(group: Any, instance: Any, value: Any) -> Any:
    """The put is accepted when the command starts and completes when it returns."""
    call = await group.call_command(instance.pvspec.attr[len("cmd_"):], value)
    return PutCompletion(value, call)


def script_ioc(module: ModuleType, prefix: str, *, params: Optional[Dict[str, Any]] = None,
               poll_period: float = DEFAULT_POLL_PERIOD, on_error: Any = "continue",
               autostart: bool = True) -> ScriptPVs:
    """The PVs of a loaded script: task PVs, ``<prefix><name>`` for each ``_export()`` item,
    ``<prefix><func>`` (+ ``_RESULT``, ``_STATUS``) for each public function.

    Args:
        poll_period: seconds between reads of exported nodes (an export's ``period``
            option overrides it; ``0``: only ``deliver()`` updates the PV).
        on_error: :class:`~iocgate.task.OnError` for ``_loop`` exceptions.

    Raises:
        TypeError: a malformed ``_export()`` or a function and an export with one name.
    """
    task = ScriptTask(module, params, on_error=on_error)
    served: Dict[str, _ServedExport] = {}
    attrs: Dict[str, Any] = {"__module__": __name__, "__doc__": module.__doc__ or
                             f"Script IOC for {module.__name__}"}
    for index, export in enumerate(exports_of(module)):
        attr = f"export_{index}"
        try:
            initial = export.node.get() if _overrides(export.node, "get") else None
        except Exception as exc:
            log.warning("%s: cannot read %s yet (%s); serving it as a number",
                        task.name, export.name, exc)
            initial = None
        kind = kind_of(initial, export.options.get("dtype"))
        period = float(export.options.get("period", poll_period))
        served[attr] = _ServedExport(export, kind, period, attr)
        attrs[attr] = _export_property(served[attr])
    commands = commands_of(module)
    clash = set(commands) & {item.export.name for item in served.values()}
    if clash:
        raise TypeError(f"{sorted(clash)} are both exported and functions")
    for name, fn in commands.items():
        attrs.update(_command_properties(name, fn))
    attrs["served_exports"] = served
    attrs["commands"] = commands
    cls = type(f"{module.__name__}_ScriptPVs", (ScriptPVs,), attrs)
    return cls(prefix, task=task, autostart=autostart and task.has_routine)


# -- loop task settings -----------------------------------------------------------------------
def _field_property(field: dataclasses.Field, value: Any, setting: bool) -> pvproperty:
    meta = dict(field.metadata)
    kind = kind_of(value, meta.get("dtype"))
    kwargs = dict(kind.kwargs)
    if kind.numeric:
        for key in ("units", "precision", "limits"):
            if meta.get(key) is not None:
                kwargs[key] = meta[key]
    what = "Setting" if setting else "Readout"
    return pvproperty(name=meta.get("pv", field.name.upper()), value=kind.initial,
                      put=_put_setting if setting else None, read_only=not setting,
                      doc=meta.get("doc", f"{what} {field.name}"), **kwargs)


class LoopTaskFieldPVs(LoopTaskPVs):
    """A loop task's PVs plus its settings and readouts (subclassed per task by
    :func:`loop_task_ioc`)."""

    field_kinds: Dict[str, Kind]

    async def show_item(self, key: str, value: Any) -> None:
        if key.startswith(READOUT):
            name = key[len(READOUT):]
            await show_value(getattr(self, f"readout_{name}"),
                             self.field_kinds[f"readout_{name}"].to_pv(value))


async def _put_setting(group: Any, instance: Any, value: Any) -> Any:
    name = instance.pvspec.attr[len("setting_"):]
    kind = group.field_kinds[instance.pvspec.attr]
    group.task.set_settings(**{name: kind.to_python(value)})
    return value


def loop_task_ioc(task: LoopTask, prefix: str, *, on_event_loop: bool = False,
                  autostart: bool = True) -> LoopTaskPVs:
    """The PVs of a loop task: task and loop status PVs, and one PV per field of its
    settings and readouts (``<prefix><FIELD>``, or the field's ``metadata["pv"]``; ``units``,
    ``precision``, ``limits``, ``doc`` from its metadata). A put to a setting takes effect
    before the next iteration; readouts are read-only and change with ``task.publish()``.

    Args:
        on_event_loop: run the task on the IOC's event loop instead of its own thread.
    """
    kinds: Dict[str, Kind] = {}
    attrs: Dict[str, Any] = {"__module__": __name__, "__doc__": type(task).__doc__,
                             "field_kinds": kinds}
    for what, values in (("setting", task.settings), ("readout", task.readouts)):
        for field in dataclasses.fields(values) if values is not None else ():
            value = getattr(values, field.name)
            attrs[f"{what}_{field.name}"] = _field_property(field, value, what == "setting")
            kinds[f"{what}_{field.name}"] = kind_of(value, field.metadata.get("dtype"))
    cls = type(f"{type(task).__name__}PVs", (LoopTaskFieldPVs,), attrs)
    return cls(prefix, task=task, on_event_loop=on_event_loop, autostart=autostart)



__all__ = ["CommandStatus", "DEFAULT_POLL_PERIOD", "ScriptPVs", "loop_task_ioc",
           "parse_arguments", "script_ioc"]
