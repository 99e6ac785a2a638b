"""``python -m rmq_cli``: the same as the ``rmq`` console script."""

import sys

from rmq_cli._cli import main

if __name__ == "__main__":
    sys.exit(main())
