"""``python -m inn_core``: the INN Lab command line."""

import sys

from inn_core.cli import main

sys.exit(main())
