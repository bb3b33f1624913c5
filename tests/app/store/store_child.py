"""A second process for the robustness tests: writes to a store until told to stop (or killed).

python store_child.py reply DB        stream canvases into one reply forever,
                                      printing "canvas N" after each commit
python store_child.py writer DB NAME K GO
                                      once the file GO exists, write K conversations,
                                      each with a full reply
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from history_samples import converging_block, fake_reply

from app.store import Store
from engine.events import Canvas


def stream_forever(db: Path) -> None:
    store = Store.open(db)
    cid = store.create_conversation("killed mid-reply")
    user = store.send_user_message(cid, "write forever")
    writer = store.begin_reply(user.id)
    print(f"reply {writer.message_id}", flush=True)
    block = 0
    while True:
        steps = converging_block(block, block=block)
        for step in steps:
            writer.on_event(step)
        writer.on_event(Canvas(block, steps[-1].draft, f"block{block} ", len(steps), False))
        print(f"canvas {block}", flush=True)
        block += 1


def write_many(db: Path, name: str, count: int, go: Path) -> None:
    print("ready", flush=True)
    while not go.exists():  # start together with the other writer, migration included
        time.sleep(0.005)
    with Store.open(db) as store:
        for i in range(count):
            cid = store.create_conversation(f"{name} {i}")
            user = store.send_user_message(cid, f"{name} question {i}")
            with store.begin_reply(user.id) as writer:
                for event in fake_reply(i, words=f"{name} answer {i}"):
                    writer.on_event(event)
            store.search(name)  # readers interleave with the other process's writes
    print("done", flush=True)


if __name__ == "__main__":
    mode, db = sys.argv[1], Path(sys.argv[2])
    if mode == "reply":
        stream_forever(db)
    else:
        write_many(db, sys.argv[3], int(sys.argv[4]), Path(sys.argv[5]))
