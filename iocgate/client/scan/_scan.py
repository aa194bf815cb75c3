"""Step scans: move positioners through points, trigger detectors, read counters."""

from __future__ import annotations

import csv
import sys
import time
from typing import IO, Any, List, Optional, Sequence, Union

import numpy as np

from .._device import Motor
from .._pv import PV

Target = Union[str, PV, Motor]


def _as_pv(target: Union[str, PV]) -> PV:
    return target if isinstance(target, PV) else PV(target)


class Positioner:
    """Something a scan moves: any PV (put with completion) or a :class:`Motor`.

    Args:
        target: a PV name, a :class:`PV` or a :class:`Motor`.
        readback: a PV whose value is recorded for the point (default: the Motor's ``RBV``,
            or the target PV itself).
        label: the column name (default: the PV name / motor prefix).
        timeout: seconds to wait for each move to finish.
    """

    def __init__(self, target: Target, readback: Optional[Union[str, PV]] = None,
                 label: Optional[str] = None, timeout: Optional[float] = 60.0):
        self.motor = target if isinstance(target, Motor) else None
        self.pv = None if self.motor is not None else _as_pv(target)  # type: ignore[arg-type]
        self.readback = None if readback is None else _as_pv(readback)
        default = self.motor.prefix if self.motor is not None else self.pv.pvname  # type: ignore
        self.label = label or default
        self.timeout = timeout

    def move_to(self, value: float) -> None:
        """Move and wait until the move is complete.

        Raises:
            CATimeoutError: not finished within ``timeout``.
            LimitError: a Motor target outside its soft limits.
        """
        if self.motor is not None:
            self.motor.move(value, wait=True, timeout=self.timeout)
        else:
            self.pv.put(value, wait=True, timeout=self.timeout)  # type: ignore[union-attr]

    def position(self) -> float:
        """The current position (readback if there is one)."""
        if self.readback is not None:
            return self.readback.get(use_monitor=False)
        if self.motor is not None:
            return self.motor.get_position(readback=True)
        return self.pv.get(use_monitor=False)  # type: ignore[union-attr]


class Counter:
    """A scalar PV read at every point (column ``label``, default the PV name)."""

    def __init__(self, target: Union[str, PV], label: Optional[str] = None):
        self.pv = _as_pv(target)
        self.label = label or self.pv.pvname

    def read(self) -> float:
        """A fresh reading (never the monitored cache)."""
        return self.pv.get(use_monitor=False)


class Trigger:
    """Starts a detector at every point by putting ``value`` and waiting for completion."""

    def __init__(self, target: Union[str, PV], value: Any = 1, timeout: Optional[float] = 60.0):
        self.pv = _as_pv(target)
        self.value = value
        self.timeout = timeout

    def fire(self) -> None:
        """Put ``value`` with completion; raises as :meth:`iocgate.client.PV.put` does."""
        self.pv.put(self.value, wait=True, timeout=self.timeout)


class ScanResult:
    """The data of a scan: ``data[point, column]`` with ``columns`` names.

    ``result["m1"]`` is one column; :meth:`write_csv` writes a header line then one row per
    point.
    """

    def __init__(self, columns: List[str], data: np.ndarray):
        self.columns = columns
        self.data = data

    def __getitem__(self, label: str) -> np.ndarray:
        return self.data[:, self.columns.index(label)]

    def __len__(self) -> int:
        return len(self.data)

    def write_csv(self, path: str) -> None:
        """Write ``path`` as CSV: a header of column names, then the points."""
        with open(path, "w", newline="") as fh:
            writer = csv.writer(fh)
            writer.writerow(self.columns)
            writer.writerows(self.data.tolist())


class _RowWriter:
    """A CSV file written one row per point as the scan takes it (flushed each time), so a
    scan that fails part-way keeps every point taken before the failure."""

    def __init__(self, path: Optional[str], columns: List[str]) -> None:
        self._fh = None if path is None else open(path, "w", newline="")
        if self._fh is not None:
            self._writer = csv.writer(self._fh)
            self._writer.writerow(columns)
            self._fh.flush()

    def write(self, row: List[float]) -> None:
        if self._fh is not None:
            self._writer.writerow(row)
            self._fh.flush()

    def close(self) -> None:
        if self._fh is not None:
            self._fh.close()


def _progress(stream: Optional[IO[str]], done: int, total: int, width: int = 30) -> None:
    if stream is None:
        return
    filled = int(width * done / max(total, 1))
    stream.write(f"\r[{'#' * filled}{'.' * (width - filled)}] {done}/{total}")
    if done == total:
        stream.write("\n")
    stream.flush()


def step_scan(positioners: Sequence[Positioner], points: np.ndarray,
              counters: Sequence[Union[Counter, str, PV]] = (),
              triggers: Sequence[Union[Trigger, str, PV]] = (), dwell: float = 0.0,
              progress: bool = True, filename: Optional[str] = None,
              stream: Optional[IO[str]] = None) -> ScanResult:
    """The general step scan: ``points[i, j]`` is positioner ``j``'s target at point ``i``.

    At each point: move every positioner (waiting for completion), wait ``dwell`` seconds, fire
    every trigger (waiting for completion), record each positioner's position then each counter.

    Args:
        progress: draw a progress bar on ``stream`` (default ``sys.stderr``).
        filename: also write the result as CSV there, one row per point as it is taken (a
            failing point leaves the rows before it on disk).

    Returns:
        the :class:`ScanResult`; columns are the positioner labels then the counter labels.

    Raises:
        CATimeoutError, CAPutError, LimitError: from a move, trigger or read; the scan stops
            there and the positioners stay where they are.
    """
    counters = [c if isinstance(c, Counter) else Counter(c) for c in counters]
    triggers = [t if isinstance(t, Trigger) else Trigger(t) for t in triggers]
    points = np.asarray(points, dtype=float).reshape(len(points), len(positioners))
    out = stream if stream is not None else sys.stderr
    bar = out if progress else None
    rows = []
    columns = [p.label for p in positioners] + [c.label for c in counters]
    out_file = _RowWriter(filename, columns)
    try:
        for i, targets in enumerate(points):
            for positioner, target in zip(positioners, targets):
                positioner.move_to(float(target))
            if dwell:
                time.sleep(dwell)
            for trigger in triggers:
                trigger.fire()
            rows.append([p.position() for p in positioners] + [c.read() for c in counters])
            out_file.write(rows[-1])
            _progress(bar, i + 1, len(points))
    finally:
        out_file.close()
    return ScanResult(columns, np.array(rows, dtype=float).reshape(len(rows), len(columns)))


def _positioner(target: Union[Target, Positioner]) -> Positioner:
    return target if isinstance(target, Positioner) else Positioner(target)


def ascan(positioner: Union[Target, Positioner], start: float, stop: float, npts: int,
          counters: Sequence[Any] = (), **kws: Any) -> ScanResult:
    """Absolute scan of one positioner over ``npts`` points from ``start`` to ``stop``
    (inclusive); ``**kws`` as :func:`step_scan`."""
    return step_scan([_positioner(positioner)], np.linspace(start, stop, npts)[:, None],
                     counters, **kws)


def a2scan(positioner1: Union[Target, Positioner], start1: float, stop1: float,
           positioner2: Union[Target, Positioner], start2: float, stop2: float, npts: int,
           counters: Sequence[Any] = (), **kws: Any) -> ScanResult:
    """Two positioners moved together, each linearly over ``npts`` points."""
    points = np.column_stack([np.linspace(start1, stop1, npts), np.linspace(start2, stop2, npts)])
    return step_scan([_positioner(positioner1), _positioner(positioner2)], points, counters,
                     **kws)


def dscan(positioner: Union[Target, Positioner], start: float, stop: float, npts: int,
          counters: Sequence[Any] = (), **kws: Any) -> ScanResult:
    """Scan relative to the current position; the positioner goes back there afterwards
    (also when the scan fails)."""
    pos = _positioner(positioner)
    origin = pos.position()
    try:
        return step_scan([pos], origin + np.linspace(start, stop, npts)[:, None], counters, **kws)
    finally:
        pos.move_to(origin)


def mesh(positioner1: Union[Target, Positioner], start1: float, stop1: float, npts1: int,
         positioner2: Union[Target, Positioner], start2: float, stop2: float, npts2: int,
         counters: Sequence[Any] = (), **kws: Any) -> ScanResult:
    """A grid: ``positioner2`` is the outer (slow) axis, ``positioner1`` the inner one;
    ``npts1 * npts2`` points."""
    inner, outer = np.meshgrid(np.linspace(start1, stop1, npts1),
                               np.linspace(start2, stop2, npts2))
    points = np.column_stack([inner.ravel(), outer.ravel()])
    return step_scan([_positioner(positioner1), _positioner(positioner2)], points, counters,
                     **kws)


