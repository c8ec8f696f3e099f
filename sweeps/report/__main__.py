"""``python -m sweeps.report FOLDER``: see :func:`sweeps.report.main`."""

import sys

from sweeps.report import main

sys.exit(main())
