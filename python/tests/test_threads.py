"""``threads=``: the same tables on one thread and on two, the pool really used (the backend
says how many threads), and counts that are not counts refused before anything runs."""

import pandas as pd
import pytest

import hetsim
from conftest import FA, SHORT


def test_one_thread_and_two_give_the_same_tables():
    one = hetsim.compare(FA, rules=["sgd", "fa"], seeds=9, backend="cpu", set=SHORT, threads=1)
    two = hetsim.compare(FA, rules=["sgd", "fa"], seeds=9, backend="cpu", set=SHORT, threads=2)
    for name in ["metrics", "instances", "weights"]:
        pd.testing.assert_frame_equal(one.tables[name], two.tables[name], check_exact=True,
                                      obj=name)
    assert "1 thread," in one.manifest["backend"]
    assert "2 threads" in two.manifest["backend"]


@pytest.mark.parametrize("bad, error", [(0, ValueError), (-1, ValueError), ("2", TypeError),
                                        (1.5, TypeError), (True, TypeError)])
def test_bad_counts_are_refused(bad, error):
    with pytest.raises(error, match="threads"):
        hetsim.run(FA, backend="cpu", set=SHORT, threads=bad)
