"""Command line: `python -m replies` writes replies/contract.schema.json from the contract's types; --check only
checks that it is current (exit 1 if not)."""

import sys

from replies.contract import main

sys.exit(main())
