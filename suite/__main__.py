"""``python -m suite`` is the same as the ``suite`` console script."""

from suite.cli import main

raise SystemExit(main())
