"""`python -m micrograd` runs the command line (see micrograd.app.cli)."""

from micrograd.app.cli import main

raise SystemExit(main())
