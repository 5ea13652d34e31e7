"""The columnar reader of RESPONSES.csv against the row-by-row one: same codes, same messages, same lines."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from analysis import cli
from analysis.cli import InputError, _parse_rows, parse_responses

HEADER = "respondent_id,unit,group,channel,question,level\n"
MARGINS = {"group": ["企业", "群众"], "channel": ["网上", "电话"]}


def rows(n_respondents: int = 6, seed: int = 1) -> list[str]:
    rng = np.random.default_rng(seed)
    out = []
    for r in range(1, n_respondents + 1):
        group = ("企业", "群众")[r % 2]
        for unit in ("U2", "U10", "U1")[: 1 + r % 3]:
            for q in (1, 2, 3):
                out.append(f"R{r},{unit},{group},网上,Q{q},{('', 'NA', '不了解', *'12345')[rng.integers(8)]}\n")
    return out


def outcome(reader, text, *args) -> tuple[str, object]:
    try:
        result = reader(text, "r.csv", 5, MARGINS, *args)
    except InputError as error:
        return "error", str(error)
    a = result.answers
    return "ok", (result.units, result.questions, a.respondent.tolist(), a.unit.tolist(), a.question.tolist(),
                  a.level.tolist(), {m: v.tolist() for m, v in a.margins.items()})


GOOD = rows()
#: name -> the file's lines after the header (each mutation of the good file)
CASES = {
    "good": GOOD,
    "blank lines and CRLF": [line.replace("\n", "\r\n") for line in GOOD[:5]] + ["\n", "\r\n"] + GOOD[5:],
    "padded values": [line.replace(",", " , ") for line in GOOD],
    "rows of a pair apart": GOOD[3:] + GOOD[:3],
    "empty respondent": GOOD[:7] + [",U1,企业,网上,Q9,1\n"] + GOOD[7:],
    "empty unit": GOOD[:7] + ["R1,,企业,网上,Q9,1\n"] + GOOD[7:],
    "empty question": GOOD[:7] + ["R1,U1,企业,网上, ,1\n"] + GOOD[7:],
    "unknown level": GOOD[:9] + ["R99,U1,企业,网上,Q1,7\n"] + GOOD[9:],
    "unknown group": GOOD[:4] + ["R99,U1,外宾,网上,Q1,3\n"] + GOOD[4:],
    "unknown channel": GOOD + ["R99,U1,企业,邮件,Q1,3\n"],
    "two problems in one row": GOOD[:4] + ["R99,U1,外宾,网上,Q1,x\n"] + GOOD[4:],
    "answered twice, consecutive": GOOD[:2] + [GOOD[1]] + GOOD[2:],
    "answered twice, far apart": GOOD + [GOOD[4]],
    "group changes within the pair": GOOD[:2] + [GOOD[2].replace("群众", "企业")] + GOOD[3:],
    "group changes later": GOOD + [GOOD[0].replace("Q1", "Q7").replace("群众", "企业")],
    "channel changes": GOOD + [GOOD[0].replace("Q1", "Q7").replace("网上", "电话")],
    "repeat and change in one row": GOOD + [GOOD[0].replace("群众", "企业")],
    "a later row problem after a repeat": GOOD + [GOOD[0], "R99,U1,外宾,网上,Q1,3\n"],
    "wrong field count": GOOD[:5] + ["R1,U1,企业,网上,Q1\n"] + GOOD[5:],
    "quoted values": [line.replace("网上", '"网上"') for line in GOOD] + [GOOD[0].replace("Q1", '"Q1"')],
    "quoted newline": GOOD[:3] + ['R77,U1,企业,"网\n上",Q1,3\n'] + GOOD[3:],
    "quotes inside and around values": GOOD + ['R9,U1,企业,网上,Q"1,3\n', 'R9,U1,企业,网上,"Q""2",3\n',
                                                'R9,U1,企业,网上,"Q3" ,"3"\n', "R9,U1,企业,网上,Q4 ,3\t\n"],
    "no data": [],
    "only blank lines": ["\n", "\n"],
}


@pytest.mark.parametrize("case", CASES, ids=list(CASES))
@pytest.mark.parametrize("as_bytes", [False, True], ids=["text", "bytes"])
def test_columnar_and_row_readers_agree(case: str, as_bytes: bool) -> None:
    text = HEADER + "".join(CASES[case])
    fast = outcome(parse_responses, text.encode("utf-8") if as_bytes else text)
    assert fast == outcome(_parse_rows, text)


def test_messages_name_the_line_of_the_first_problem() -> None:
    text = HEADER + "".join(CASES["answered twice, far apart"])
    kind, message = outcome(parse_responses, text)
    assert kind == "error"
    assert message == (f"r.csv:{len(GOOD) + 2}: respondent 'R1' answered 'Q2' of unit 'U10' again (first on line 6)")
    crlf = HEADER + "".join(CASES["blank lines and CRLF"]) + "R3,U1,企业,网上,Q1,9\n"
    assert outcome(parse_responses, crlf)[1].startswith(f"r.csv:{len(GOOD) + 4}: column 'level': unknown level '9'")


def test_question_order_of_a_params_file() -> None:
    text = HEADER + "".join(GOOD)
    for order in (["Q3", "Q2", "Q1"], ["Q1", "Q2"]):
        assert outcome(parse_responses, text, order) == outcome(_parse_rows, text, order)


def test_a_clean_file_never_takes_the_row_loop(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "r.csv"
    path.write_bytes(b"\xef\xbb\xbf" + (HEADER + "".join(GOOD)).encode("utf-8"))
    expected = outcome(_parse_rows, HEADER + "".join(GOOD))

    def row_loop(*args: object) -> None:
        raise AssertionError("the row-by-row reader ran")

    monkeypatch.setattr(cli, "_parse_rows", row_loop)
    assert outcome(parse_responses, path) == expected
    small = cli._BLOCK
    monkeypatch.setattr(cli, "_BLOCK", 64)  # many blocks: codes carry over from block to block
    assert outcome(parse_responses, path) == expected
    monkeypatch.setattr(cli, "_BLOCK", small)
    # a problem is placed without the row loop too
    path.write_text(HEADER + "".join(GOOD) + GOOD[0], encoding="utf-8")
    kind, message = outcome(parse_responses, path)
    assert kind == "error" and f"r.csv:{len(GOOD) + 2}: respondent 'R1'" in message


def test_not_utf8_in_a_column_the_result_does_not_use(tmp_path: Path) -> None:
    path = tmp_path / "r.csv"
    data = (HEADER + "".join(GOOD)).encode("utf-8").replace("网上".encode(), "网上".encode("gbk"), 1)
    path.write_bytes(data)
    with pytest.raises(InputError, match=r"r.csv:2:\d+: not UTF-8"):
        parse_responses(path, "r.csv", 5, {"group": MARGINS["group"]})


def test_a_file_that_is_not_utf8_is_reported_before_the_targets_are_checked(tmp_path: Path) -> None:
    from .conftest import run_cli

    path = tmp_path / "r.csv"
    path.write_bytes((HEADER + "".join(GOOD)).encode("gbk"))
    (tmp_path / "t.json").write_text('{"channel": {"网上": 1}}', encoding="utf-8")
    done = run_cli("indices", str(path), "--targets", str(tmp_path / "t.json"))
    assert done.returncode == 2 and done.stderr.startswith(f"{path}:2:") and "not UTF-8" in done.stderr
    done = run_cli("indices", str(path), "--targets", str(tmp_path / "t.json"), "--method", "rake")
    assert done.returncode == 2 and done.stderr.startswith(f"{path}:2:") and "not UTF-8" in done.stderr
