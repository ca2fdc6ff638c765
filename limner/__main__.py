"""`python -m limner` is the `limner` command."""

import sys

from limner.cli.main import main

sys.exit(main())
