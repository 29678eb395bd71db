"""`python -m cli` runs the `gridgov` command."""

from cli import main

main()
