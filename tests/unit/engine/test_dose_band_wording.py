"""A dose band's Sources value is worded once and kept: what it keeps is what wording the band afresh gives,
for every band, also after an equal band (another order, another knowledge copy) was worded."""

from __future__ import annotations

import dataclasses

from hypothesis import given, settings
from hypothesis import strategies as st

from cds_service.engine.rules import dose
from cds_service.knowledge.model import DoseBand
from support.rules import knowledge

_NUMBER = st.one_of(st.none(), st.sampled_from([0.5, 7, 15, 50, 500, 1000, 1020.5]))
_BAND = st.builds(DoseBand, min_weight_kg=_NUMBER, max_weight_kg=_NUMBER, max_mg=_NUMBER, max_mg_per_kg=_NUMBER,
                  split_interval_days=st.one_of(st.none(), st.integers(1, 7)), source=st.just("S-X"),
                  status=st.just("confirmed"))


def worded_afresh(band) -> str:
    return dose._band_value.__wrapped__(band)


@settings(max_examples=300, deadline=None)
@given(band=_BAND)
def test_a_kept_band_value_is_the_bands_own_wording(band):
    assert dose._band_value(band) == worded_afresh(band)
    copy = dataclasses.replace(band)
    assert dose._band_value(copy) == worded_afresh(copy) == worded_afresh(band)


def test_every_label_band_reads_as_worded_afresh():
    bands = [band for product in knowledge().products.values() for label in product.labels.values()
             for band in label.dose_bands]
    assert bands
    for band in bands:
        assert dose._band_value(band) == worded_afresh(band)
