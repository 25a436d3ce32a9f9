"""Reading with the digit classifier beside the reader (``inference.digit_slots``, ``predict(digits=...)``)."""

import numpy as np
import pytest

from svhn_api.inference.decode import decode_batch
from svhn_api.inference.digit_slots import (
    NEGLIGIBLE,
    combine,
    in_doubt,
    length_bound,
    lengths_tried,
    slot_requests,
    slots,
)
from svhn_api.labels import NO_DIGIT
from svhn_api.models.digits import digit_crop


def reader_probs(length: dict[int, float], digits: list[dict[int, float]]) -> np.ndarray:
    """A (6, 11) array: the length row, then per position the given digit probabilities (rest: 'no digit')."""
    p = np.zeros((6, 11))
    for n, v in length.items():
        p[0, n] = v
    p[0, 0] = 1 - p[0].sum()
    for i, row in enumerate(digits, start=1):
        for d, v in row.items():
            p[i, d] = v
        p[i, NO_DIGIT] = 1 - p[i].sum()
    p[len(digits) + 1:, NO_DIGIT] = 1.0
    return p


def onehot(*digits: int, sure: float = 0.9) -> np.ndarray:
    out = np.full((len(digits), 10), (1 - sure) / 9)
    out[np.arange(len(digits)), digits] = sure
    return out


def test_slots_cut_the_box_into_equal_parts_left_to_right():
    assert slots((10, 5, 30, 20), 3) == [(10, 5, 10, 20), (20, 5, 10, 20), (30, 5, 10, 20)]
    assert slots((0, 0, 7, 7), 1) == [(0, 0, 7, 7)]


def test_the_two_most_probable_lengths_are_tried():
    p = reader_probs({2: 0.6, 3: 0.3, 1: 0.1}, [{4: 0.9}, {2: 0.9}, {7: 0.5}])
    assert lengths_tried(p) == [2, 3]
    requests = slot_requests([p], [(0, 0, 60, 20)])
    assert [(k, n) for k, n, _ in requests] == [(0, 2), (0, 2), (0, 3), (0, 3), (0, 3)]


def test_the_classifier_settles_a_digit_the_reader_is_unsure_of():
    p = reader_probs({2: 0.9, 1: 0.1}, [{1: 0.5, 7: 0.45}, {5: 0.95}])
    out, readings = combine(p, {2: onehot(7, 5), 1: onehot(7)})
    assert decode_batch(p[None])[0][0].tolist()[:3] == [2, 1, 5]        # the reader alone: "15"
    assert readings[0][0] == "75"
    np.testing.assert_allclose(out.sum(axis=1), 1.0, atol=1e-6)         # still six distributions
    assert out[1, NO_DIGIT] == 0 and out[3, NO_DIGIT] == pytest.approx(1.0)
    assert out.shape == (6, 11) and out.dtype == np.float32
    scores = [v for _, v in readings]
    assert scores == sorted(scores, reverse=True) and 0 < sum(scores) <= 1.0 + 1e-9
    # the posterior: the score of "75" over the scores of every reading of the lengths tried (1 and 2 digits)
    joint2, joint1 = p[1:3, :10] * onehot(7, 5), p[1:2, :10] * onehot(7)
    z = 0.9 * joint2.sum(axis=1).prod() + 0.1 * p[2, NO_DIGIT] * joint1.sum(axis=1).prod()
    assert readings[0][1] == pytest.approx(0.9 * joint2[0, 7] * joint2[1, 5] / z)


def test_the_classifier_can_change_the_length_when_its_slots_read_better():
    """The reader slightly prefers 2 digits; the three slots read three clear digits, the two slots do not."""
    p = reader_probs({2: 0.5, 3: 0.45}, [{1: 0.6}, {8: 0.6}, {3: 0.6}])
    def flat(n):
        return np.full((n, 10), 0.1)

    _, readings = combine(p, {2: flat(2), 3: onehot(1, 8, 3, sure=0.99)})
    assert readings[0][0] == "183"
    _, readings = combine(p, {2: onehot(1, 8, sure=0.99), 3: flat(3)})
    assert readings[0][0] == "18" and len(readings) == 5 and len({n for n, _ in readings}) == 5


def test_the_second_length_is_read_only_when_it_could_change_a_reading():
    """Whatever the classifier reads in its slots, a length's readings never score above ``length_bound``: left
    out when that is negligible, the readings are the same and the confidences within ``NEGLIGIBLE``."""
    rng = np.random.default_rng(0)
    first = onehot(1, 8)
    sure = reader_probs({2: 1 - 1e-13, 3: 1e-13}, [{1: 0.9}, {8: 0.9}, {3: 0.9}])
    close = reader_probs({2: 0.6, 3: 0.4}, [{1: 0.9}, {8: 0.9}, {3: 0.9}])
    assert lengths_tried(sure) == lengths_tried(close) == [2, 3]
    assert not in_doubt(sure, first, 3) and in_doubt(close, first, 3)
    assert in_doubt(sure, first, 3, top=100)          # the 100th reading of two digits is far weaker
    for _ in range(20):                               # any slot probabilities: under the bound
        third = rng.dirichlet(np.ones(10) * 0.1, size=3)
        full = combine(sure, {2: first, 3: third}, top=1)[1]
        alone = combine(sure, {2: first}, top=1)[1]
        assert [n for n, _ in full] == [n for n, _ in alone]
        np.testing.assert_allclose([v for _, v in full], [v for _, v in alone], rtol=NEGLIGIBLE)
        joint = sure[1:4, :10] * third
        assert sure[0, 3] * sure[4:, NO_DIGIT].prod() * joint.sum(axis=1).prod() <= length_bound(sure, 3)


def test_predict_reads_the_second_lengths_slots_only_in_doubt(monkeypatch):
    """``predict`` gives the same readings with the rule as with every length's slots read, from fewer slots."""
    from svhn_api.inference import digit_slots
    from svhn_api.inference import predict as predicting
    from tests.conftest import draw_number

    crops = []
    monkeypatch.setattr(predicting, "digit_crop", lambda *a: crops.append(1) or digit_crop(*a))
    photos = [np.asarray(draw_number(n, np.random.default_rng(k))[0]) for k, n in enumerate(["25", "7", "1903", "48"])]
    ruled = predicting.predict(photos, localizer=False, pipeline="fast", top=1)
    few = len(crops)
    monkeypatch.setattr(digit_slots, "NEGLIGIBLE", 0.0)      # every second length in doubt: all slots read
    every = predicting.predict(photos, localizer=False, pipeline="fast", top=1)
    assert few < len(crops) - few
    for a, b in zip(ruled, every, strict=True):
        assert a.number == b.number and [n for n, _ in a.alternatives] == [n for n, _ in b.alternatives]
        assert a.confidence == pytest.approx(b.confidence, rel=1e-6) and a.unsure == b.unsure


def test_combine_refuses_what_is_not_a_reading():
    with pytest.raises(ValueError, match="combine takes"):
        combine(np.zeros((5, 11)), {1: onehot(3)})
    with pytest.raises(ValueError, match="combine takes"):
        combine(reader_probs({1: 1.0}, [{3: 1.0}]), {})


def test_predict_joins_the_digit_classifier_with_the_reader():
    """A classifier sure of "7" everywhere turns every digit of the reading into 7; digits=False does not."""
    from PIL import Image

    from svhn_api import predict
    from svhn_api.backend import import_keras
    from tests.conftest import draw_number

    keras = import_keras()

    class Sevens(keras.layers.Layer):
        def call(self, x):
            logits = keras.ops.zeros((keras.ops.shape(x)[0], 10)) + keras.ops.convert_to_tensor(
                [0.0] * 7 + [60.0] + [0.0] * 2)
            return keras.ops.softmax(logits)

    inp = keras.Input((32, 32, 3), dtype="uint8")
    sevens = keras.Model(inp, Sevens()(inp))
    img, boxes = draw_number("258", np.random.default_rng(0))
    photo = Image.fromarray(np.asarray(img))
    box = (min(b.left for b in boxes), min(b.top for b in boxes),
           max(b.left + b.width for b in boxes) - min(b.left for b in boxes),
           max(b.top + b.height for b in boxes) - min(b.top for b in boxes))
    alone = predict(photo, boxes=box, digits=False, pipeline="fast")    # the fast path: the card's threshold
    joined = predict(photo, boxes=box, digits=sevens, pipeline="fast")
    assert joined.number == "7" * len(joined.number) and joined.number != alone.number
    assert joined.probabilities.shape == (6, 11) and not joined.unsure
    assert all(n != joined.number and p <= joined.confidence for n, p in joined.alternatives)
    from svhn_api.models import card as cards
    from svhn_api.models.io import wrap

    strict = wrap(sevens, card=cards.ModelCard(name="sevens"))
    strict.card.decode.unsure_below = 1.01          # the classifier's card judges the joined confidence
    assert predict(photo, boxes=box, digits=strict, pipeline="fast").unsure
    with pytest.raises(Exception, match="a reader, not a digit classifier"):
        predict(photo, boxes=box, digits="artifacts/models/compact")
