"""Step scans on Channel Access: positioners (any PV or :class:`~iocgate.client.Motor`),
counters (any PV), detectors triggered by a put; Spec-like ``ascan``/``dscan``/``a2scan``/
``mesh``; results as numpy arrays and CSV with a header.

Example::

    from iocgate.client import Motor
    from iocgate.client.scan import ascan, mesh, Trigger

    m1 = Motor("BL:m1")
    result = ascan(m1, 0.0, 1.0, 21, counters=["BL:I0", "BL:diode"],
                   triggers=[Trigger("BL:scaler.CNT")], filename="scan001.csv")
    result["BL:diode"]                      # numpy array, one value per point
    result.data                             # (21, 3) array; result.columns the header
"""

from ._scan import Counter, Positioner, ScanResult, Trigger, a2scan, ascan, dscan, mesh, step_scan

__all__ = ["Positioner", "Counter", "Trigger", "ScanResult", "step_scan", "ascan", "dscan",
           "a2scan", "mesh"]
