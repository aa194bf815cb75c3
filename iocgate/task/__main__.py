"""``python -m iocgate.task script.py --prefix X:``: see :func:`iocgate.task.main`."""

from ._run import main

main()
