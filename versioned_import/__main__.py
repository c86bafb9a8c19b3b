"""``python -m versioned_import run ...`` / ``demo``."""

import sys

from ._cli import main

sys.exit(main())
