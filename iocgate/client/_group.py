"""Client proxies from IOC classes: one ``PVGroup`` declaration serves the IOC and scripts."""

from __future__ import annotations

from typing import Any, Dict, Optional

from ._device import Device


def group_pvnames(group_cls: type, prefix: str = "",
                  macros: Optional[Dict[str, str]] = None) -> Dict[str, str]:
    """``{attribute path: full PV name}`` for a caproto ``PVGroup`` class, without creating it.

    Follows caproto's naming: each ``pvproperty``'s ``name`` (macros expanded), the group
    prefix, and for ``SubGroup``\\ s their ``prefix`` (default: attribute name plus the
    separator) and extra macros. Nested attributes are dotted: ``"channel1.voltage"``.

    Raises:
        TypeError: ``group_cls`` is not a ``PVGroup`` subclass.
        KeyError: a name uses a macro that ``macros`` does not give.
    """
    from caproto.server import PVGroup  # the server side, loaded only when used
    from caproto.server.server import expand_macros

    if not (isinstance(group_cls, type) and issubclass(group_cls, PVGroup)):
        raise TypeError(f"expected a caproto PVGroup subclass, got {group_cls!r}")
    macros = dict(macros or {})
    prefix = expand_macros(prefix, macros)
    names: Dict[str, str] = {}
    for attr, prop in group_cls._pvs_.items():
        if "." not in attr:
            names[attr] = prefix + expand_macros(prop.pvspec.name, macros)
    for attr, sub in group_cls._subgroups_.items():
        if "." in attr:
            continue
        sub_prefix = sub.prefix if sub.prefix is not None else sub.attr_name
        sub_macros = {**macros, **sub.macros}
        for sub_attr, pvname in group_pvnames(sub.group_cls, prefix + sub_prefix,
                                              sub_macros).items():
            names[f"{attr}.{sub_attr}"] = pvname
    return names


def device_from_group(group_cls: type, prefix: str = "",
                      macros: Optional[Dict[str, str]] = None, **kws: Any) -> Device:
    """A :class:`Device` whose attributes are ``group_cls``'s properties, for ``prefix``.

    ``psu = device_from_group(PowerSupplyIOC, prefix="PSU:")`` then ``psu.voltage`` reads
    ``PSU:voltage`` (or whatever ``name=`` the property declares) and ``psu.ch1.current`` a
    property of a ``SubGroup``. PVs connect in the background.

    Args:
        group_cls: a caproto ``PVGroup`` subclass (iocgate's groups included).
        prefix: the IOC's prefix.
        macros: the IOC's macros.
        **kws: passed to :class:`Device` (``timeout``, ``mutable`` ...).
    """
    names = group_pvnames(group_cls, prefix, macros)
    root = Device(prefix, **kws)
    for path, pvname in names.items():
        device = root
        *parents, leaf = path.split(".")
        for part in parents:
            child = device._children.get(part)
            if child is None:
                child = Device("", **kws)
                device.add_child(part, child)
            device = child
        device.add_pv(pvname, attr=leaf)
    return root
