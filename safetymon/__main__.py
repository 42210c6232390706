"""Allow ``python -m safetymon``."""

import sys

from safetymon.cli.main import main

sys.exit(main())
