"""Issue 14 item 5: a short code typed on a Chinese keyboard (full-width, ideographic space, any dash)."""
from __future__ import annotations

import pytest

from survey.core import codes


@pytest.mark.parametrize("typed", [
    "ＡＢＣＤ３４",            # full-width letters and digits
    "ａｂｃｄ３４",            # full-width lower case
    "AB\u3000CD34",          # ideographic space
    "\u3000ABCD34\u3000",
    "AB－CD34",              # full-width hyphen-minus
    "AB—CD34", "AB–CD34", "AB‐CD34", "AB‑CD34", "AB‒CD34", "AB―CD34", "AB﹣CD34",
    "ABーCD34",              # katakana prolonged sound mark, what an IME gives for the minus key
    "ABｰCD34",               # its half-width form
    "AB\u200bCD34",          # a zero-width space carried by copy and paste
    "ab-cd 34",
])
def test_typed_variants_normalise_to_the_code(typed):
    assert codes.normalise(typed) == "ABCD34"


@pytest.mark.parametrize("typed", ["", "　", "—", "AB_CD", "ABCD0O", "一二三", "A" * 17, "Ａ" * 100])
def test_what_cannot_be_a_code_is_none(typed):
    assert codes.normalise(typed) is None


def test_home_page_box_and_link_take_a_full_width_code(client, make):
    campaign = make.campaign()
    make.commit()
    code = campaign.campaign_units[0].short_code
    wide = "".join(chr(ord(c) + 0xFEE0) for c in code.lower())  # ＡＢ… as a Chinese IME types them
    typed = "\u3000" + wide[:3] + "－" + wide[3:] + "\u3000"
    response = client.get("/go", query_string={"code": typed})
    assert response.status_code == 302 and response.headers["Location"].endswith(f"/s/{code}")
    assert client.get(f"/s/{wide[:3]}—{wide[3:]}").status_code == 200
