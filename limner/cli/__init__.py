"""limner's command line: one parser, one module per command group (see main.py)."""
