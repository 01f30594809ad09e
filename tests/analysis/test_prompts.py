"""Every review option steers the prompt, and the user's question reaches it intact."""

from __future__ import annotations

import itertools
from typing import get_args

from openrouter_image_mcp.analysis.prompts import (
    DEFAULT_QUESTION,
    MobileFocus,
    Platform,
    WebpageFocus,
    general_prompt,
    mobile_prompt,
    webpage_prompt,
)

WEBPAGE_FOCI = [None, *get_args(WebpageFocus)]
MOBILE_FOCI = [None, *get_args(MobileFocus)]
SWITCHES = (True, False)
QUESTIONS = (None, "Is the sign-up button visible?")


def test_every_webpage_option_combination_gives_its_own_prompt() -> None:
    combos = list(itertools.product(WEBPAGE_FOCI, SWITCHES, QUESTIONS))
    assert len({webpage_prompt(*combo) for combo in combos}) == len(combos)


def test_every_mobile_option_combination_gives_its_own_prompt() -> None:
    combos = list(itertools.product(get_args(Platform), MOBILE_FOCI, SWITCHES, QUESTIONS))
    assert len({mobile_prompt(*combo) for combo in combos}) == len(combos)


def test_question_is_passed_verbatim_and_blank_means_none() -> None:
    asked = webpage_prompt(None, True, "  Where is the cart?\n")
    assert asked.count("Where is the cart?") == 1
    assert "answer it directly in the answer field" in asked
    assert webpage_prompt(None, True, " \n ") == webpage_prompt(None, True, None)
    assert "set the answer field to null" in mobile_prompt("auto", None, True, None)


def test_general_prompt_is_the_question_or_a_detailed_description() -> None:
    assert general_prompt(" What colour is the car? ") == "What colour is the car?"
    assert general_prompt("   ") == DEFAULT_QUESTION
    assert general_prompt(None) == DEFAULT_QUESTION
