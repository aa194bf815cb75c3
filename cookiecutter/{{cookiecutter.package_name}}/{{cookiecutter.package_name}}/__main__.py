"""``python -m {{ cookiecutter.package_name }}``: serve the IOC (``--help`` lists options and PVs)."""

from iocgate import run_ioc

from .ioc import {{ cookiecutter.class_name }}

if __name__ == "__main__":
    run_ioc({{ cookiecutter.class_name }})
