"""`python -m micrograd` runs the command line (see micrograd.cli)."""

from micrograd.cli import main

raise SystemExit(main())
