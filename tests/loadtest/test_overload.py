"""The overload test's report, from made-up results: shares, fast refusals, the 200s against the deadline,
and the gateway's refusals by reason read from its metrics."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, generate_latest

from loadtest.overload import REJECTED_METRIC, print_summary, rejected_between, rejected_by_reason, summarize


def test_the_report_splits_answers_and_times_refusals_and_successes() -> None:
    latencies = {
        "200": [5.0, 10.0, 20.0, 30.0, 300.0, 12.0],
        "503": [1.0, 2.0, 80.0],
        "429": [3.0],
        "TimeoutError": [2000.0],
    }

    line = summarize(
        latencies,
        knee_rate=100.0,
        factor=3.0,
        duration_s=30.0,
        window_s=0.05,
        deadline_ms=250.0,
        rejected={"queue_timeout": 3},
        fast_ms=50.0,
    )

    assert line["sent"] == 11
    assert line["target_rate"] == 300.0
    assert line["counts"] == {"200": 6, "429": 1, "503": 3, "other": 1}
    assert line["shares"]["200"] == round(6 / 11, 4)
    assert line["other_outcomes"] == {"TimeoutError": 1}
    assert line["fast_refusals"] == {"within_ms": 50.0, "refusals": 4, "share": 0.75}
    assert line["ok"]["p50_ms"] == 12.0
    assert line["ok"]["slowest_ms"] == 300.0
    assert line["ok"]["over_deadline"] == 1 and line["ok"]["any_over_deadline"] is True
    assert line["rejected_by_reason"] == {"queue_timeout": 3}
    assert line["sender_kept_up"] is False  # 11 requests in 0.05 s is 220/s of the 300 asked


def test_a_run_without_refusals_or_successes_reports_none_rather_than_failing() -> None:
    line = summarize(
        {"503": [1.0]},
        knee_rate=10.0,
        factor=3.0,
        duration_s=1.0,
        window_s=1.0,
        deadline_ms=250.0,
        rejected={},
    )

    assert line["ok"]["slowest_ms"] is None and line["ok"]["any_over_deadline"] is False
    assert line["fast_refusals"]["share"] == 1.0
    assert (
        summarize({}, knee_rate=10, factor=3, duration_s=1, window_s=0, deadline_ms=250, rejected={})[
            "fast_refusals"
        ]["share"]
        is None
    )
    print_summary(line)  # readable whatever is missing


def test_refusals_by_reason_are_read_from_the_exposition_and_counted_over_the_run() -> None:
    registry = CollectorRegistry()
    rejected = Counter(REJECTED_METRIC, "refused", ["reason"], registry=registry)
    rejected.labels("rate_limited").inc(2)
    rejected.labels("overloaded").inc(5)
    before = rejected_by_reason(generate_latest(registry).decode())
    rejected.labels("overloaded").inc(7)
    rejected.labels("queue_timeout").inc(1)

    after = rejected_by_reason(generate_latest(registry).decode())

    assert before == {"rate_limited": 2.0, "overloaded": 5.0}
    assert rejected_between(before, after) == {"overloaded": 7, "queue_timeout": 1}
