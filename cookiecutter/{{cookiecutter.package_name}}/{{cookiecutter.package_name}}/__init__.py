"""EPICS IOC for the {{ cookiecutter.instrument_name }}: the IOC class in ``ioc.py``, its
simulator in ``simulator.py`` (neither imported here, so ``python -m`` runs either alone)."""
