"""Where a decoded body or parameter holds a string PostgreSQL cannot store."""

from __future__ import annotations

import pytest

from api.request_input import UnstorableInput, reject_unstorable, unstorable_fields


def test_paths_name_every_string_with_a_nul_or_a_lone_surrogate():
    body = {"ok": "fine", "urls": ["mailto://a", "json://b\x00"], "nested": {"deep": [{"x": "\ud800"}]}, "n": 1}
    assert unstorable_fields(body) == ["nested.deep.0.x", "urls.1"]


def test_a_bad_key_names_the_object_that_holds_it():
    assert unstorable_fields({"a\x00": 1}) == ["(body)"]
    assert unstorable_fields({"outer": {"b\x00": 1}}) == ["outer"]


def test_storable_text_passes_paired_surrogates_and_control_characters_included():
    assert unstorable_fields({"emoji": "\U0001f600", "tab": "a\tb", "bell": "\x07", "empty": ""}) == []
    assert unstorable_fields("plain") == []


def test_bodies_as_deep_as_the_decoder_allows_are_walked_without_recursion():
    body: object = "x\x00"
    for _ in range(50_000):
        body = [body]
    assert unstorable_fields(body) == [".".join(["0"] * 50_000)]


def test_the_refusal_names_fields_and_never_their_values():
    with pytest.raises(UnstorableInput) as refused:
        reject_unstorable(["email"], "query")
    assert refused.value.status_code == 400
    assert refused.value.extra == [{"key": "email", "source": "query", "message": refused.value.extra[0]["message"]}]
    reject_unstorable([], "query")  # nothing to refuse: no exception
