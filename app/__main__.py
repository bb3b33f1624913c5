"""``python -m app [--model DIR|REPO|demo]``."""

import sys

from app.main import main

sys.exit(main())
