"""inn_core.views.consistency: the sentence under Figure 2 says what the run's numbers show."""

from inn_core.views.consistency import consistency_reading


def _records(model, rows):
    return [
        {"epoch": e, "model": model, "E_cor": c, "E_inc": i, "E_m_cor": mc, "E_m_inc": mi} for e, c, i, mc, mi in rows
    ]


def test_memorised_with_the_midpoints_apart_is_the_effect():
    rows = _records("ce", [(5, 0.64, 0.08, 0.64, 0.08), (40, 0.98, 0.89, 0.93, 0.54)])
    text = consistency_reading(rows + _records("mixup", [(5, 0.1, 0.1, 0.1, 0.1)]), "ce")
    assert "drew together" in text and "gap 0.56 at epoch 5, 0.09" in text and "(0.39)" in text
    assert text.endswith("the consistency effect.")


def test_not_memorised_says_so_and_where_to_look():
    rows = _records("mixup", [(5, 0.70, 0.10, 0.70, 0.10), (40, 0.75, 0.20, 0.74, 0.20)])
    text = consistency_reading(rows, "mixup")
    assert "have not drawn together" in text and "consistency effect." not in text
    assert "the cross-entropy model of a long enough run" in text
    assert "a longer run shows it" in consistency_reading(
        _records("ce", [(1, 0.7, 0.1, 0.7, 0.1), (2, 0.7, 0.1, 0.7, 0.1)]), "ce"
    )


def test_midpoints_closing_too_is_not_called_the_effect():
    rows = _records("ce", [(5, 0.64, 0.08, 0.6, 0.1), (40, 0.98, 0.90, 0.97, 0.92)])
    text = consistency_reading(rows, "ce")
    assert "the midpoint means did too" in text and "the consistency effect." not in text


def test_one_epoch_is_too_few():
    assert consistency_reading(_records("ce", [(5, 0.6, 0.1, 0.6, 0.1)]), "ce") is None
    assert consistency_reading([], "ce") is None
