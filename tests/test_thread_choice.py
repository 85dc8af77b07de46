"""ttfs_lab.thread_choice: the thread count each kind of call measured faster is the one used."""
from ttfs_lab import thread_choice


def drive(seconds_of, calls=2000, key=("test",), limit=2):
    """Run `calls` calls whose wall time is seconds_of(threads); returns the counts used."""
    thread_choice.reset()
    used = {1: 0, limit: 0}
    for _ in range(calls):
        n = thread_choice.pick(key, limit)
        used[n] += 1
        thread_choice.record(key, n, limit, seconds_of(n))
    return used


def test_two_threads_slower_runs_on_one_almost_always():
    used = drive(lambda n: 1.5 if n == 2 else 1.0)
    assert used[2] <= 2000 / thread_choice.MAX_INTERVAL + 10  # only the re-timings
    assert used[1] > 0.99 * 2000 - 10


def test_two_threads_faster_run_on_two_almost_always():
    used = drive(lambda n: 0.55 if n == 2 else 1.0)
    assert used[1] <= 2000 / thread_choice.MAX_INTERVAL + 10


def test_a_slow_first_call_does_not_decide():
    # the first call on 2 threads starts the thread team (here 50x a normal call)
    first = [True]

    def seconds_of(n):
        if n == 2 and first[0]:
            first[0] = False
            return 50.0
        return 0.55 if n == 2 else 1.0

    used = drive(seconds_of)
    assert used[1] <= 2000 / thread_choice.MAX_INTERVAL + 10  # only the re-timings


def test_a_slow_re_timing_is_forgotten_at_the_next():
    # the re-timing of the faster count (after a lasting slow phase) is one slow call
    calls = [0]

    def seconds_of(n):
        calls[0] += 1
        slow_phase = 500 <= calls[0] < 600
        if n == 2:
            return 5.5 if slow_phase or calls[0] == 700 else 0.55
        return 1.0

    used = drive(seconds_of)
    assert used[1] <= 100 + 2 * thread_choice.MAX_INTERVAL + 2000 / thread_choice.MAX_INTERVAL


def test_one_slow_call_does_not_switch_off_the_faster_count():
    # a preemption: one call on 2 threads takes 10x as long, in the middle of a long run
    calls = [0]

    def seconds_of(n):
        calls[0] += 1
        if n == 2 and calls[0] == 1000:
            return 5.5
        return 0.55 if n == 2 else 1.0

    used = drive(seconds_of)
    assert used[1] <= 2000 / thread_choice.MAX_INTERVAL + 10  # only the re-timings


def test_a_change_of_load_is_followed():
    thread_choice.reset()
    key, slow_two = ("test",), [True]
    for phase in range(2):
        used = {1: 0, 2: 0}
        for i in range(1000):
            n = thread_choice.pick(key, 2)
            if i >= 2 * thread_choice.MAX_INTERVAL:
                used[n] += 1
            thread_choice.record(key, n, 2, (1.5 if slow_two[0] else 0.55) if n == 2 else 1.0)
        assert used[1 if slow_two[0] else 2] > 0.95 * sum(used.values())
        slow_two[0] = False


def test_one_thread_limit_and_fixed_are_not_measured():
    thread_choice.reset()
    assert thread_choice.pick(("k",), 1) == 1
    with thread_choice.fixed():
        assert all(thread_choice.pick(("k",), 2) == 2 for _ in range(10))
        assert thread_choice.run(("k",), 2, lambda n: n) == 2
    assert thread_choice.choices() == {}
