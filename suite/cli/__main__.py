"""``python -m suite.cli``: the ``suite`` command (``python -m suite`` is the same)."""

import sys

from suite.cli import main

sys.exit(main())
