"""``python -m fvqp`` is the ``fvqp`` command."""

from .cli import main

raise SystemExit(main())
