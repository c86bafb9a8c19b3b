"""``python -m versioned_import run ...`` / ``demo``."""

import sys

from ._cli.main import main

sys.exit(main())
