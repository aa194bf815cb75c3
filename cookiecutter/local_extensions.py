"""Jinja names of this template (cookiecutter imports this module by ``_extensions``)."""

from __future__ import annotations

from pathlib import Path

from jinja2 import Environment
from jinja2.ext import Extension


class IocgateCheckout(Extension):
    """``{{ iocgate_checkout_uri }}``: the ``file://`` URI of the iocgate checkout holding
    this template, so a generated package installs iocgate from where it was made."""

    def __init__(self, environment: Environment):
        super().__init__(environment)
        environment.globals["iocgate_checkout_uri"] = Path(__file__).resolve().parents[1].as_uri()
