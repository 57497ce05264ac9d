"""The store's duplicate-key rule (the later row of a key wins) against pandas' drop_duplicates, including when
every 64-bit key hash collides, so the exact check alone decides."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from ferbench.engine import store
from ferbench.engine.store import KEY_COLUMNS, _drop_earlier_duplicates


def _table(n: int, seed: int) -> pa.Table:
    rng = np.random.default_rng(seed)
    df = pd.DataFrame(
        {
            "sample_id": [f"test/happy/{i}.jpg" for i in rng.integers(0, n // 2, size=n)],
            "stamp": rng.choice(["10:1", "10:2"], size=n),
            "model_id": rng.choice(["a", "b"], size=n),
            "model_fingerprint": rng.choice(["m1", None], size=n),  # rows from before fingerprints: null
            "variant": "clean",
            "variant_fingerprint": "v1",
            "row": np.arange(n),
        }
    )
    return pa.Table.from_pandas(df, preserve_index=False)


def _oracle(t: pa.Table) -> list[int]:
    df = t.to_pandas()
    df["model_fingerprint"] = df["model_fingerprint"].fillna("<null>")
    return sorted(df.drop_duplicates(list(KEY_COLUMNS), keep="last")["row"].tolist())


@pytest.mark.parametrize("collide", [False, True])
def test_later_rows_win_exactly_as_pandas_drops_duplicates(collide: bool, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    if collide:  # every row "might" repeat: the exact grouping must tell them apart
        monkeypatch.setattr(store, "_key_hashes", lambda t: np.zeros(t.num_rows, dtype=np.uint64))
    for seed in range(3):
        t = pa.concat_tables([_table(400, seed), _table(300, seed + 10)])  # two chunks, like two parts
        t = t.set_column(t.schema.get_field_index("row"), "row", pa.array(np.arange(t.num_rows)))
        got = _drop_earlier_duplicates(t)
        assert got["row"].to_pylist() == _oracle(t)
    distinct = _table(400, 5).slice(0, 1)
    assert _drop_earlier_duplicates(distinct) is distinct  # nothing to drop: the table itself, no copy


def test_distinct_keys_come_back_untouched() -> None:
    t = pa.Table.from_pandas(
        pd.DataFrame({c: [f"{c}{i}" for i in range(1000)] for c in KEY_COLUMNS}), preserve_index=False
    )
    assert _drop_earlier_duplicates(t) is t
