"""A run releases the GIL: Python threads keep running while the engine does."""

import threading
import time

import hetsim
from conftest import FA


def test_other_threads_run_during_a_run():
    done = threading.Event()
    result = {}

    def job():
        result["r"] = hetsim.run(FA, seeds=2, backend="cpu", duration="3 s",
                                 set={"task.held_out": 50})
        done.set()

    t = threading.Thread(target=job)
    t.start()
    ticks = 0
    started = time.monotonic()
    while not done.is_set():
        ticks += 1
        time.sleep(0.001)
    t.join()
    elapsed = time.monotonic() - started
    assert result["r"].status == "completed"
    # With the GIL held for the whole run (about a second) the loop could not tick meanwhile.
    assert ticks >= 10, (ticks, elapsed)
