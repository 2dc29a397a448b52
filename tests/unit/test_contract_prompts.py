"""The contract's prompts: how an event says it answered one, and the commands' arguments."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from kernel.contract import (
    AlertWearerArgs,
    Answer,
    PrewarnArgs,
    PromptKind,
    answer_of,
)


def test_an_answer_is_read_from_event_data() -> None:
    assert answer_of({"answers": "fall", "prompt": "srv:3", "after_s": 8.2, "input": "main"}) \
        == Answer(PromptKind.FALL, "srv:3", 8.2)
    assert answer_of({"answers": "prewarn", "prompt": "prewarn-1", "after_s": True}) \
        == Answer(PromptKind.PREWARN, "prewarn-1", None), "a bool is not a duration"


@pytest.mark.parametrize("data", [
    {}, {"input": "main"}, {"answers": "panic", "prompt": "srv:3"},
    {"answers": "fall"}, {"answers": "fall", "prompt": ""}, {"answers": "fall", "prompt": 3},
    {"answers": 1, "prompt": "srv:3"},
])
def test_anything_else_answers_nothing(data: dict[str, object]) -> None:
    assert answer_of(data) is None


def test_command_arguments_round_trip_and_refuse_what_is_not_a_prompt() -> None:
    args = AlertWearerArgs(device="ble-c82e470a1b2c", level=2, ref="srv:3", until=1.8e9)
    assert AlertWearerArgs.model_validate(args.args()) == args
    assert args.args()["kind"] == "fall"
    for bad in ({"device": "ble-c82e470a1b2c", "level": 3, "ref": "srv:3"},
                {"device": "ble-c82e470a1b2c", "level": 2, "ref": ""},
                {"device": "ble-c82e470a1b2c", "level": 2, "ref": "x", "until": 1e300},
                {"device": "ble-c82e470a1b2c", "level": 2, "ref": "x", "extra": 1}):
        with pytest.raises(ValidationError):
            AlertWearerArgs.model_validate(bad)
    prewarn = PrewarnArgs(resident=7, devices="ble-c82e470a1b2c,,ble-c82e470a1b2d")
    assert prewarn.wearables == ["ble-c82e470a1b2c", "ble-c82e470a1b2d"]
    assert PrewarnArgs.model_validate({"resident": 7}).window_s == 900.0
