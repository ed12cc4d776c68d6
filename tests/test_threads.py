"""Tests for inn_core.method.threads: torch's process-wide thread count under concurrent sessions."""

import threading

import torch

from inn_core.method.threads import torch_threads
from inn_core.views.toy import ToyConfig, consistency_toy


def test_overlapping_blocks_run_in_turn_and_restore_the_count():
    original = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        a_inside, a_release, b_inside = threading.Event(), threading.Event(), threading.Event()

        def a():
            with torch_threads(1):
                a_inside.set()
                a_release.wait(10)

        def b():
            a_inside.wait(10)
            with torch_threads(1):
                b_inside.set()

        ta, tb = threading.Thread(target=a), threading.Thread(target=b)
        ta.start()
        tb.start()
        a_inside.wait(10)
        # B must wait for A: entering now would make A's exit restore 2 under B, and B's exit leave 1 for good.
        assert not b_inside.wait(0.3)
        a_release.set()
        ta.join(10)
        tb.join(10)
        assert b_inside.is_set()
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(original)


def test_nested_blocks_restore_the_outer_count():
    original = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        with torch_threads(1) as found:
            assert found == 2 and torch.get_num_threads() == 1
            with torch_threads(2):
                assert torch.get_num_threads() == 2
            assert torch.get_num_threads() == 1
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(original)


def test_toy_in_parallel_sessions_equals_solo_and_keeps_the_count():
    original = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        config = ToyConfig(n_samples=120, epochs=3)
        solo = consistency_toy(config)
        results = []
        threads = [threading.Thread(target=lambda: results.append(consistency_toy(config))) for _ in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        assert len(results) == 2
        for r in results:
            assert (r.scores == solo.scores).all()
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(original)
