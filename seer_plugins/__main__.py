"""`python -m seer_plugins <command>`: the `seer` command (:mod:`seer_plugins.cli`)."""

import sys

from seer_plugins.cli import main

if __name__ == "__main__":
    sys.exit(main())
