"""`python -m gosvc`: the same as the gosvc console script."""

import sys

from gosvc.cli import main

sys.exit(main())
