"""``python -m nasengine.cli``."""

import sys

from nasengine.cli.main import main

sys.exit(main())
