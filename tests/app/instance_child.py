"""A first window stand-in for tests/app/test_app_single_instance.py, run as its own process.

It claims the data folder like ``app.main`` does, listens for later launches, then keeps
its GUI thread busy for ``BUSY_S`` seconds (as a window loading a model or painting a long
chat does) before answering.  It prints ``ready``, then ``launched ARGS`` for each launch.

Usage: python instance_child.py DATA_DIR BUSY_S
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from app.qt import QCoreApplication, QTimer
from app.single_instance import Claim, InstanceServer, ProfileLock, claim, server_name


def main() -> None:
    data, busy_s = Path(sys.argv[1]), float(sys.argv[2])
    app = QCoreApplication([])
    profile = ProfileLock(data)
    name = server_name(data)
    assert claim(profile, name, [], wait_ms=0) is Claim.FIRST
    server = InstanceServer(name, app)
    assert server.listen()
    server.launched.connect(lambda args: print("launched", json.dumps(args), flush=True))
    print("ready", flush=True)
    time.sleep(busy_s)  # the GUI thread is busy: a later launch gets no answer meanwhile
    QTimer.singleShot(30_000, app.quit)
    app.exec()


if __name__ == "__main__":
    main()
