"""data._langid, the native kernel of py3langid's classifier: same answers as py3langid, safe on any
model arrays and any text, and the fallback to py3langid when it is missing or disagrees."""

from __future__ import annotations

import math
import os
from array import array

import numpy
import pytest
from hypothesis import given, settings, strategies as st

import data.language as language
from data.language import _identifier, agrees_with, language_backend, native_classifier
from native_support import built_kernel

LETTERS = st.sampled_from("abcdefghijklmnopqrstuvwxyzàâçéèêëîïôûùüÿäößąćęłńóśźżãõñ¿¡ABCÉ .,;:!?'\"-0123456789\n"
                          "\u2026\u00a0\u4e2d\u0416<>|")


def kernel():
    """The built kernel module (see :func:`native_support.built_kernel`)."""
    return built_kernel("_langid")


@pytest.fixture(scope="module")
def classify():
    kernel()
    native = native_classifier(_identifier())
    assert native is not None, "the kernel is built but cannot take py3langid's model"
    return native


def test_ci_runs_the_native_classifier():
    """CI builds the kernel, so the fast path is what the suite and the benchmark measure."""
    if os.environ.get("CI") != "true":
        pytest.skip("only CI guarantees a compiler")
    assert language_backend() == "native"


@settings(max_examples=300, deadline=None)
@given(st.text(LETTERS, max_size=400))
def test_same_language_and_confidence_as_py3langid(classify, text):
    code, confidence = classify(text)
    expected_code, expected_confidence = _identifier().classify(text)
    assert code == expected_code
    assert confidence == pytest.approx(float(expected_confidence), abs=1e-4)


@pytest.mark.parametrize("text", ["", "\udcff lone surrogate", "DIE STADT LIEGT AM FLUSS.", "x" * 50_000,
                                  "Quelle est la capitale de la France ?", "Gallia est omnis divisa."])
def test_edge_texts_match_py3langid(classify, text):
    assert agrees_with(classify, _identifier().classify, (text,))


def tiny_model(**changes):
    """Two states, two languages: byte 'a' leads to state 1, which completes feature 0."""
    arrays = dict(nextmove=array("I", [1 if byte == ord("a") else 0 for byte in range(256)] * 2),
                  rowbase=array("q", [0, 256]), output=array("i", [-1, 0]),
                  table=numpy.array([[1.0, -1.0]], dtype=numpy.float32),
                  prior=numpy.array([0.0, 0.5], dtype=numpy.float32))
    arrays.update(changes)
    return kernel().Model(**arrays)


def test_classify_arithmetic_on_a_hand_built_model():
    # "aab": feature 0 visited twice -> log1p(2) * (1, -1) + (0, 0.5), over sqrt(3) bytes, softmax
    scores = [math.log1p(2) / math.sqrt(3), (0.5 - math.log1p(2)) / math.sqrt(3)]
    expected = 1 / (1 + math.exp(scores[1] - scores[0]))
    index, confidence = tiny_model().classify(b"aab")
    assert index == 0 and confidence == pytest.approx(expected, rel=1e-6)
    assert tiny_model().classify(b"bbb") == (0, 0.5)  # no feature: uniform, as py3langid


@pytest.mark.parametrize(("changes", "error"), [
    (dict(nextmove=array("I", [2] * 512)), "nextmove"),
    (dict(rowbase=array("q", [0, 300])), "rowbase"),
    (dict(output=array("i", [-1, 1])), "output"),
    (dict(output=array("i", [-1])), "one entry per state"),
    (dict(prior=numpy.zeros(3, dtype=numpy.float32)), "features x languages"),
])
def test_arrays_that_would_read_out_of_bounds_are_refused(changes, error):
    with pytest.raises(ValueError, match=error):
        tiny_model(**changes)


def test_arrays_of_the_wrong_type_are_refused():
    with pytest.raises(TypeError, match="rowbase: expected buffer format 'q'"):
        tiny_model(rowbase=array("i", [0, 256]))
    with pytest.raises(TypeError, match="table"):
        tiny_model(table=numpy.array([[1.0, -1.0]]))  # float64


def test_falls_back_to_py3langid_when_the_kernel_disagrees(monkeypatch):
    monkeypatch.setattr(language, "native_classifier", lambda identifier: lambda text: ("la", 1.0))
    language._classifier.cache_clear()
    try:
        with pytest.warns(RuntimeWarning, match="disagrees"):
            assert language_backend() == "py3langid"
        assert language.detect_language("Quelle est la capitale de la France ?")[0] == "fr"
    finally:
        language._classifier.cache_clear()
        language.clear_cache()


def test_falls_back_silently_when_the_kernel_is_missing(monkeypatch):
    monkeypatch.setattr(language, "native_classifier", lambda identifier: None)
    language._classifier.cache_clear()
    try:
        assert language_backend() == "py3langid"
    finally:
        language._classifier.cache_clear()
