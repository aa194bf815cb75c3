"""EPICS IOC for the {{ cookiecutter.instrument_name }}."""

from .ioc import {{ cookiecutter.class_name }}

__all__ = ["{{ cookiecutter.class_name }}"]
