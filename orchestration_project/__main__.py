"""``python -m orchestration_project``: see ``orchestration_project.cli``."""

import sys

from orchestration_project.cli import main

sys.exit(main())
