"""``python -m scripts …`` is ``authtrail …``."""

from scripts.cli import main

main()
