"""``python -m nasengine``: the command line."""

import sys

from nasengine.cli.main import main

sys.exit(main())
