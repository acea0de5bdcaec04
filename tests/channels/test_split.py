"""Message splitting: every part fits, nothing is lost, HTML tags are never cut apart."""

from __future__ import annotations

import re
from datetime import date

from hypothesis import given
from hypothesis import strategies as st

from bot.channels.split import split_message, utf16_length
from bot.render import render_diagnosis
from knowledge import diagnose, parse_profile

WORDS = st.text(alphabet=st.sampled_from("abcñé😀 \n<>&"), min_size=0, max_size=40)


@given(st.lists(WORDS, max_size=60).map("".join), st.integers(2, 200))  # 2: room for any character
def test_parts_fit_and_keep_every_word(text, limit):
    parts = split_message(text, limit)
    assert all(0 < utf16_length(part) <= limit for part in parts)
    assert "".join("".join(parts).split()) == "".join(text.split())


def test_a_short_message_is_one_part():
    assert split_message("  Hola  ", 4096) == ["Hola"]
    assert split_message("   ", 4096) == []


def test_an_emoji_counts_twice():
    assert split_message("😀😀", 3) == ["😀", "😀"]


def test_paragraphs_are_preferred_over_lines():
    text = "uno\ndos\n\ntres\ncuatro"
    assert split_message(text, 12) == ["uno\ndos", "tres\ncuatro"]


TAG = re.compile(r"</?b>")


def _balanced(part: str) -> bool:
    depth = 0
    for tag in TAG.findall(part):
        depth += -1 if tag.startswith("</") else 1
        if depth not in (0, 1):
            return False
    return depth == 0


def test_a_long_route_splits_between_steps_with_tags_whole(kb, profile_data):
    profile_data.update(formal=True, workers=12, monthly_sales_clp=60_000_000, main_need="export")
    text = render_diagnosis(diagnose(parse_profile(profile_data, kb), kb, date(2026, 11, 23)), kb, "html") * 3
    parts = split_message(text, 1000)
    assert len(parts) > 3
    assert all(_balanced(part) for part in parts)
    assert all(not part.startswith(("\n", " ")) for part in parts)
