"""``python -m illusion_torch.cli`` is the ``illusion`` command."""

import sys

from . import main

sys.exit(main())
