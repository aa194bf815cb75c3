"""Server settings from the EPICS environment (``iocgate.server.Settings``)."""

from __future__ import annotations

from iocgate.server import Settings


def test_defaults():
    settings = Settings(environ={})
    assert settings.interfaces == ["0.0.0.0"] and settings.port == 5064
    assert settings.max_array_bytes is None and settings.beacon_period == 15.0
    assert settings.beacon_addresses == [("255.255.255.255", 5065)]
    assert settings.ignore == set()


def test_cas_variables_win_over_ca_ones():
    settings = Settings(environ={
        "EPICS_CA_SERVER_PORT": "6000", "EPICS_CAS_SERVER_PORT": "6100",
        "EPICS_CAS_INTF_ADDR_LIST": "127.0.0.1", "EPICS_CA_MAX_ARRAY_BYTES": "20000000",
        "EPICS_CA_AUTO_ARRAY_BYTES": "NO",
        "EPICS_CA_REPEATER_PORT": "6001", "EPICS_CAS_BEACON_PORT": "6101",
        "EPICS_CA_ADDR_LIST": "10.0.0.255",
        "EPICS_CAS_BEACON_ADDR_LIST": "127.0.0.1 127.0.0.2:7000",
        "EPICS_CAS_AUTO_BEACON_ADDR_LIST": "NO", "EPICS_CAS_BEACON_PERIOD": "2.5",
        "EPICS_CAS_IGNORE_ADDR_LIST": "10.1.1.1 10.1.1.2",
    })
    assert settings.interfaces == ["127.0.0.1"] and settings.port == 6100
    assert settings.max_array_bytes == 20_000_000 and settings.beacon_period == 2.5
    assert settings.beacon_addresses == [("127.0.0.1", 6101), ("127.0.0.2", 7000)]
    assert settings.ignore == {"10.1.1.1", "10.1.1.2"}


def test_fallbacks_to_client_variables():
    settings = Settings(environ={"EPICS_CA_SERVER_PORT": "6000", "EPICS_CA_REPEATER_PORT": "6001",
                                 "EPICS_CA_ADDR_LIST": "127.0.0.1",
                                 "EPICS_CA_AUTO_ADDR_LIST": "NO"})
    assert settings.port == 6000
    assert settings.beacon_addresses == [("127.0.0.1", 6001)]


def test_explicit_interfaces_argument():
    assert Settings(["127.0.0.1"], environ={"EPICS_CAS_INTF_ADDR_LIST": "10.0.0.1"}).interfaces \
        == ["127.0.0.1"]


def test_max_array_bytes_limits_only_without_auto_array_bytes():
    """EPICS 7 (rsrv, libca): EPICS_CA_AUTO_ARRAY_BYTES=YES, the default, ignores the limit."""
    limit = {"EPICS_CA_MAX_ARRAY_BYTES": "20000"}
    assert Settings(environ=limit).max_array_bytes is None
    assert Settings(environ={**limit, "EPICS_CA_AUTO_ARRAY_BYTES": "YES"}).max_array_bytes is None
    assert Settings(environ={**limit, "EPICS_CA_AUTO_ARRAY_BYTES": "no"}).max_array_bytes == 20000
    assert Settings(environ={"EPICS_CA_AUTO_ARRAY_BYTES": "NO"}).max_array_bytes == 16384
