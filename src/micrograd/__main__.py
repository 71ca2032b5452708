"""`python -m micrograd` runs the command line (see micrograd.app.cli)."""

from micrograd.app.cli import console_main

raise SystemExit(console_main())
