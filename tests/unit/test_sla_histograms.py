"""The SLA statistics' stored histograms: packed exactly, merged exactly."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from projections.sla_stats import Bucket, bin_of, pack_hist, unpack_hist

histograms = st.dictionaries(st.integers(0, 2_000), st.integers(1, 10**12), max_size=300)


@given(histograms)
def test_a_packed_histogram_unpacks_to_itself(hist: dict[int, int]) -> None:
    keys = sorted(hist)
    counts = [hist[key] for key in keys]
    assert unpack_hist(pack_hist(keys, counts)) == (keys, counts)


@given(st.lists(histograms, min_size=1, max_size=5))
def test_buckets_read_from_rows_add_up_like_dicts(hists: list[dict[int, int]]) -> None:
    bucket = Bucket()
    expected: dict[int, int] = {}
    for hist in hists:
        keys = sorted(hist)
        packed = pack_hist(keys, [hist[key] for key in keys])
        bucket.add_row({"received": 1, "resolved": 0, "breached": 0, "met": 0,
                        "first_reply": packed, "resolution": pack_hist([], [])})
        for key, count in hist.items():
            expected[key] = expected.get(key, 0) + count
    keys = sorted(expected)
    assert bucket.sorted_hist(0) == (keys, [expected[key] for key in keys])
    assert bucket.counts[0] == len(hists)
    assert bucket.sorted_hist(1) == ([], [])
    # Taking a delta out again leaves no empty bins behind.
    delta = Bucket()
    delta.hist(0).update({key: -count for key, count in hists[0].items()})
    bucket.add(delta)
    rest = {key: count - hists[0].get(key, 0) for key, count in expected.items()}
    rest = {key: count for key, count in rest.items() if count}
    assert bucket.sorted_hist(0) == (sorted(rest), [rest[key] for key in sorted(rest)])


def test_bins_grow_with_the_value_and_zero_has_its_own() -> None:
    assert bin_of(None) is None
    assert bin_of(0) == 0
    assert bin_of(1e-9) == 1
    values = [0.5, 1, 2, 60, 3600, 9 * 3600, 5 * 9 * 3600]
    bins = [bin_of(v) for v in values]
    assert bins == sorted(bins) and len(set(bins)) == len(bins)
