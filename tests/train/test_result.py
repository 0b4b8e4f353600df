"""`TrainResult.status` is a `Status`: read from the string a caller gives, refused when it is
none of them, and written to JSON as the same string as before."""

from __future__ import annotations

import json

import pytest

from hybridlab.results import Status
from hybridlab.train import TrainResult


@pytest.mark.parametrize("status", ["ok", "failed"], ids=["ok", "failed"])
def test_a_status_string_is_read_into_a_status_and_written_back_as_the_string(status):
    result = TrainResult(status=status)
    assert result.status is Status(status)
    assert result.ok is (status == "ok")
    assert json.loads(json.dumps(result.to_dict()))["status"] == status


def test_an_unknown_status_is_refused_naming_the_valid_ones():
    message = r"TrainResult\.status must be one of 'ok', 'failed', 'stopped', got 'done'"
    with pytest.raises(ValueError, match=message):
        TrainResult(status="done")
