"""``python -m iocgate``: the ``iocgate`` command."""

import sys

from ._command import main

sys.exit(main())
