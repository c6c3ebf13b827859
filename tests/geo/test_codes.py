"""Unified social credit codes, administrative division codes and phone numbers."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from geo.codes import (
    CREDIT_CODE_ALPHABET,
    CREDIT_CODE_WEIGHTS,
    adcode_level,
    credit_code_check_char,
    make_credit_code,
    parent_adcode,
    validate_adcode,
    validate_credit_code,
    validate_phone,
)
from geo.errors import InvalidInput


def reason(excinfo: pytest.ExceptionInfo[InvalidInput]) -> tuple[str, str]:
    (p,) = excinfo.value.problems
    assert p.reason_zh
    return p.field, p.reason


# --- unified social credit code -------------------------------------------------------------------

# Published codes of well-known organisations:
# - 914403001922038216 华为技术有限公司: public company data, quoted in many open-source registries
#   and validators (one GB 32100 test calls it "华为技术有限公司的统一社会信用代码（公开信息）");
# - 9144030071526726XG 腾讯科技(深圳)有限公司 and 91110000600037341L: python-stdnum
#   tests/test_cn_uscc.doctest ("found online and should all be valid numbers") and stdnum/cn/uscc.py;
# - 91330100799655058B 阿里巴巴(中国)有限公司: several enterprise-lookup examples;
# - 91110000710925462X 中国石油天然气股份有限公司 (PetroChina): GLEIF record of LEI 529900RPY4YG47TRSV05,
#   field registeredAs;
# - 121200004013590816 (registration department 1 = 机构编制) and 91310115MA1K3BTP2B: python-stdnum list.
REAL_CODES = [
    "914403001922038216",
    "9144030071526726XG",
    "91330100799655058B",
    "91110000710925462X",
    "91110000600037341L",
    "121200004013590816",
    "91310115MA1K3BTP2B",
]


def test_weights_are_those_of_gb_32100() -> None:
    assert CREDIT_CODE_WEIGHTS == (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)
    assert len(CREDIT_CODE_ALPHABET) == 31
    assert not set("IOZSV") & set(CREDIT_CODE_ALPHABET)


@pytest.mark.parametrize("code", REAL_CODES)
def test_real_codes_are_valid(code: str) -> None:
    assert validate_credit_code(code) == code
    assert make_credit_code(code[:17]) == code


def test_codes_are_normalised() -> None:
    assert validate_credit_code("  9144030071526726xg\n") == "9144030071526726XG"


def test_published_worked_examples() -> None:
    # Q&A worked example: 91512081MA62K0260E, Σ = 1495, 1495 mod 31 = 17, 31 - 17 = 14 → 'E'.
    assert credit_code_check_char("91512081MA62K0260") == "E"
    # The worked example that accompanies GB 32100-2015 write-ups: 91350100M000100Y4Z is wrong,
    # Σ = 1640, 1640 mod 31 = 28, the check character is 31 - 28 = 3 (and Z is not even in the set).
    assert credit_code_check_char("91350100M000100Y4") == "3"
    assert validate_credit_code("91350100M000100Y43") == "91350100M000100Y43"
    with pytest.raises(InvalidInput) as e:
        validate_credit_code("91350100M000100Y4Z")
    assert reason(e)[1].startswith("illegal character 'Z' at position 18;")


def test_a_sum_divisible_by_31_gives_check_zero() -> None:
    assert credit_code_check_char("00000000000000000") == "0"
    assert credit_code_check_char("1A000000000000000") == "0"  # 1·1 + 10·3 = 31: 31 - 0 = 31 → 0
    assert credit_code_check_char("91000000000000000") == "K"  # 9·1 + 1·3 = 12: 31 - 12 = 19 → K


def test_wrong_length() -> None:
    with pytest.raises(InvalidInput) as e:
        validate_credit_code("91440300192203821", field="enterprise.credit_code")
    assert reason(e) == (
        "enterprise.credit_code",
        "wrong length: a credit code has 18 characters, got 17",
    )


@pytest.mark.parametrize(
    ("code", "char", "position"), [("9144030019220382I6", "I", 17), ("914403001O2203821X", "O", 10)]
)
def test_illegal_characters(code: str, char: str, position: int) -> None:
    with pytest.raises(InvalidInput) as e:
        validate_credit_code(code)
    assert reason(e)[1].startswith(f"illegal character {char!r} at position {position};")


def test_the_division_code_is_six_digits() -> None:
    with pytest.raises(InvalidInput) as e:
        validate_credit_code("9144A300192203821X")
    assert "positions 3–8" in reason(e)[1]
    with pytest.raises(InvalidInput):
        make_credit_code("9144A300192203821")


def test_bad_check_digit() -> None:
    with pytest.raises(InvalidInput) as e:
        validate_credit_code("914403001922038217")
    assert reason(e) == ("credit_code", "bad check digit '7', expected '6'")


@pytest.mark.parametrize("bad", ["", "9144030019220382", "914403001922038216X"])
def test_check_char_needs_seventeen_characters(bad: str) -> None:
    with pytest.raises(InvalidInput):
        credit_code_check_char(bad)


def test_not_a_string() -> None:
    with pytest.raises(InvalidInput):
        validate_credit_code(914403001922038216)  # type: ignore[arg-type]


first17 = st.builds(
    lambda a, d, b: a + d + b,
    st.text(CREDIT_CODE_ALPHABET, min_size=2, max_size=2),
    st.text("0123456789", min_size=6, max_size=6),
    st.text(CREDIT_CODE_ALPHABET, min_size=9, max_size=9),
)


@given(first17, st.integers(0, 17), st.integers(1, 30))
def test_every_single_character_change_is_caught(prefix: str, position: int, shift: int) -> None:
    code = make_credit_code(prefix)
    assert validate_credit_code(code) == code
    changed = CREDIT_CODE_ALPHABET[(CREDIT_CODE_ALPHABET.index(code[position]) + shift) % 31]
    typo = code[:position] + changed + code[position + 1 :]
    with pytest.raises(InvalidInput):
        validate_credit_code(typo)


# --- administrative division codes ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "level", "parent"),
    [
        ("350000", "province", None),
        ("350500", "city", "350000"),
        ("350505", "county", "350500"),  # 泉州市泉港区
        ("340303", "county", "340300"),  # 蚌埠市蚌山区
        ("533100", "city", "530000"),  # 德宏傣族景颇族自治州
        ("370405", "county", "370400"),  # 枣庄市台儿庄区
        ("110000", "province", None),
        ("110105", "county", "110100"),  # municipal district: prefix rule, 110100 市辖区
        ("110100", "city", "110000"),
        ("710000", "province", None),
        ("810000", "province", None),
        ("820000", "province", None),
        ("350505102", "township", "350505"),
        ("441900003", "township", "441900"),  # 东莞: towns directly under a city
        ("350505102203", "village", "350505102"),
    ],
)
def test_adcode_levels_and_parents(code: str, level: str, parent: str | None) -> None:
    assert validate_adcode(code) == code
    assert adcode_level(code) == level
    assert parent_adcode(code) == parent


def test_parent_chain_ends_at_the_province() -> None:
    chain: list[str] = []
    code: str | None = "350505102203"
    while code is not None:
        chain.append(code)
        code = parent_adcode(code)
    assert chain == ["350505102203", "350505102", "350505", "350500", "350000"]


def test_adcode_normalisation() -> None:
    assert validate_adcode(" 350505 ") == "350505"
    assert validate_adcode(350505) == "350505"


@pytest.mark.parametrize(
    ("bad", "words"),
    [
        ("35050", "got 5"),
        ("3505051", "got 7"),
        ("3505051020", "got 10"),
        ("35050a", "digits only"),
        ("３５０５０５", "digits only"),
        ("990000", "'99' is not a province-level code"),
        ("000000", "'00' is not a province-level code"),
        ("160000", "'16' is not a province-level code"),
        ("720000", "'72' is not a province-level code"),
        ("350505000", "township part"),
        ("350505102000", "village part"),
        (True, "expected a code of digits"),
        (3.5, "expected a code of digits"),
    ],
)
def test_bad_adcodes(bad: object, words: str) -> None:
    with pytest.raises(InvalidInput) as e:
        validate_adcode(bad, field="unit.adcode")  # type: ignore[arg-type]
    field, why = reason(e)
    assert field == "unit.adcode"
    assert words in why
    with pytest.raises(InvalidInput):
        parent_adcode(bad)  # type: ignore[arg-type]


# --- phones ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "normal"),
    [
        ("13800138000", "13800138000"),
        ("138 0013 8000", "13800138000"),
        ("138-0013-8000", "13800138000"),
        ("+86 138 0013 8000", "13800138000"),
        ("+86-13800138000", "13800138000"),
        ("0086 19912345678", "19912345678"),
        ("0591-87654321", "0591-87654321"),
        ("0591 8765432", "0591-8765432"),
        ("05918765432", "0591-8765432"),
        ("(0591)87654321", "0591-87654321"),
        ("（0591）87654321", "0591-87654321"),
        ("010-62345678", "010-62345678"),
        ("01062345678", "010-62345678"),
        ("010-6234-5678", "010-62345678"),
        ("021 6234 5678", "021-62345678"),
        ("0591-87654321-801", "0591-87654321-801"),
        ("0591-87654321转801", "0591-87654321-801"),
        ("0591 87654321 ext. 12", "0591-87654321-12"),
        ("+86 591 87654321", "0591-87654321"),
        ("+86 10 6234 5678", "010-62345678"),
        ("０５９１－８７６５４３２１", "0591-87654321"),
        ("400-810-8888", "4008108888"),
        ("800 820 8820", "8008208820"),
    ],
)
def test_valid_phones(raw: str, normal: str) -> None:
    assert validate_phone(raw, "contact.phone") == normal


@pytest.mark.parametrize(
    ("raw", "words"),
    [
        ("12800138000", "mobile numbers start with 13–19"),
        ("1380013800", "a mobile number has 11 digits"),
        ("138001380001", "a mobile number has 11 digits"),
        ("87654321", "needs its area code"),
        ("0591-0765432", "7–8 digits"),
        ("0591-876543", "7–8 digits"),
        ("0105-2234567", "'0105' is not an area code"),
        ("400-810-888", "400/800 numbers have 10 digits"),
        ("abc", "expected a mobile number"),
        ("", "expected a mobile number"),
        ("138 0013 800a", "expected a mobile number"),
    ],
)
def test_bad_phones(raw: str, words: str) -> None:
    with pytest.raises(InvalidInput) as e:
        validate_phone(raw, "contact.phone")
    field, why = reason(e)
    assert field == "contact.phone"
    assert words in why


def test_phone_must_be_text() -> None:
    with pytest.raises(InvalidInput):
        validate_phone(13800138000, "phone")  # type: ignore[arg-type]
