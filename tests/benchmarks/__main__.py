"""``python -m tests.benchmarks [--quick] [--json FILE] [--check] [--only GROUPS]``."""

import sys

from .runner import main

sys.exit(main())
