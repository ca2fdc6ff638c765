"""`python -m bench.provenance`: see bench/provenance/run.py."""

import sys

from bench.provenance.run import main

sys.exit(main())
