"""`python -m stinger.cli ...`, as the `stinger` script."""

from stinger.cli import main

main()
