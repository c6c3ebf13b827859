"""Identifiers in the register: unified social credit codes (GB 32100-2015), administrative division
codes (行政区划代码, GB/T 2260 plus the 9/12-digit township and village codes) and phone numbers."""

from __future__ import annotations

import re
import unicodedata
from typing import Any

from geo.errors import InvalidInput

# GB 32100-2015 code character set: digits and capital letters without I, O, Z, S, V; a character's
# value is its index (A = 10 … Y = 30).
CREDIT_CODE_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
# Weight of position i (1-based) is 3^(i-1) mod 31 (GB 32100-2015 §5 / table 2).
CREDIT_CODE_WEIGHTS = tuple(pow(3, i, 31) for i in range(17))
_CREDIT_VALUE = {c: i for i, c in enumerate(CREDIT_CODE_ALPHABET)}

# Province-level codes (first two digits) of GB/T 2260: 北京 11 … 内蒙古 15, 辽宁 21 … 黑龙江 23,
# 上海 31 … 山东 37, 河南 41 … 海南 46, 重庆 50 … 西藏 54, 陕西 61 … 新疆 65, 台湾 71, 香港 81, 澳门 82.
PROVINCE_CODES = frozenset(
    f"{n}"
    for lo, hi in ((11, 15), (21, 23), (31, 37), (41, 46), (50, 54), (61, 65), (71, 71), (81, 82))
    for n in range(lo, hi + 1)
)
ADCODE_LENGTHS = (6, 9, 12)


# --- unified social credit code -------------------------------------------------------------------


def _credit_chars(code: str, field: str) -> None:
    """Every character in the GB 32100 set, and positions 3–8 (the registering authority's
    administrative division code) six digits."""
    for i, ch in enumerate(code, start=1):
        if ch not in _CREDIT_VALUE:
            raise InvalidInput.one(
                field,
                f"illegal character {ch!r} at position {i}; allowed are 0-9 and A-Z without I, O, Z, S, V",
                f"第 {i} 位字符“{ch}”不合法（只允许数字和除 I、O、Z、S、V 以外的大写字母）",
            )
    division = code[2:8]
    if len(division) == 6 and not division.isdigit():
        raise InvalidInput.one(
            field,
            f"positions 3–8 (administrative division code) must be 6 digits, got {division!r}",
            f"第 3–8 位（登记管理机关行政区划码）须为 6 位数字，收到：{division}",
        )


def _check_char(first17: str) -> str:
    total = sum(_CREDIT_VALUE[c] * w for c, w in zip(first17, CREDIT_CODE_WEIGHTS, strict=True))
    return CREDIT_CODE_ALPHABET[(31 - total % 31) % 31]


def credit_code_check_char(first17: str, field: str = "credit_code") -> str:
    """The 18th character (校验码) for the first 17 characters of a unified social credit code:
    C18 = 31 - (Σ Ci·Wi mod 31), where 31 becomes 0."""
    code = first17.strip().upper() if isinstance(first17, str) else ""
    if len(code) != 17:
        raise InvalidInput.one(
            field,
            f"expected the first 17 characters of a credit code, got {len(code)}",
            f"须为统一社会信用代码的前 17 位，收到 {len(code)} 位",
        )
    _credit_chars(code, field)
    return _check_char(code)


def make_credit_code(first17: str, field: str = "credit_code") -> str:
    """The full 18-character code: the first 17 characters plus their check character."""
    check = credit_code_check_char(first17, field)
    return first17.strip().upper() + check


def validate_credit_code(code: str, field: str = "credit_code") -> str:
    """A valid unified social credit code (统一社会信用代码), stripped and upper-cased.

    Checks the length (18), the character set, that positions 3–8 are digits and the check character.
    The division code is not checked against the province list: codes issued by national bodies
    carry 100000. Known limitation: some early pilot codes (e.g. Fujian 2015) fail the check.
    """
    if not isinstance(code, str):
        raise InvalidInput.one(field, "the credit code must be a string", "统一社会信用代码须为字符串")
    normal = code.strip().upper()
    if len(normal) != 18:
        raise InvalidInput.one(
            field,
            f"wrong length: a credit code has 18 characters, got {len(normal)}",
            f"长度错误：统一社会信用代码为 18 位，收到 {len(normal)} 位",
        )
    _credit_chars(normal, field)
    expected = _check_char(normal[:17])
    if normal[17] != expected:
        raise InvalidInput.one(
            field,
            f"bad check digit {normal[17]!r}, expected {expected!r}",
            f"校验码错误：第 18 位为“{normal[17]}”，应为“{expected}”",
        )
    return normal


# --- administrative division codes ----------------------------------------------------------------


def validate_adcode(code: str | int, field: str = "adcode") -> str:
    """A 行政区划代码 as a string: 6 digits (province, city, county), 9 (township) or 12 (village).

    The first two digits must be a province-level code of GB/T 2260. The 3-digit township and village
    parts may not be 000.
    """
    if isinstance(code, bool) or not isinstance(code, str | int):
        raise InvalidInput.one(
            field, f"expected a code of digits, got {code!r}", f"行政区划代码须为数字：{code}"
        )
    text = str(code).strip()
    if not (text.isascii() and text.isdigit()):
        raise InvalidInput.one(
            field, f"an adcode has digits only, got {text!r}", f"行政区划代码只能包含数字：{text}"
        )
    if len(text) not in ADCODE_LENGTHS:
        raise InvalidInput.one(
            field,
            f"an adcode has 6 (province/city/county), 9 (township) or 12 (village) digits, got {len(text)}",
            f"行政区划代码应为 6 位（省/市/县）、9 位（乡镇）或 12 位（村），收到 {len(text)} 位",
        )
    if text[:2] not in PROVINCE_CODES:
        raise InvalidInput.one(
            field,
            f"{text[:2]!r} is not a province-level code "
            "(11–15, 21–23, 31–37, 41–46, 50–54, 61–65, 71, 81, 82)",
            f"前两位“{text[:2]}”不是省级行政区划代码",
        )
    for start in (6, 9):
        part = text[start : start + 3]
        if part == "000":
            what = "township" if start == 6 else "village"
            raise InvalidInput.one(
                field,
                f"the {what} part (digits {start + 1}–{start + 3}) cannot be 000",
                f"第 {start + 1}–{start + 3} 位（{'乡镇' if start == 6 else '村'}）不能为 000",
            )
    return text


def adcode_level(code: str | int) -> str:
    """'province', 'city', 'county', 'township' or 'village' (JurisdictionLevel values)."""
    text = validate_adcode(code)
    if len(text) == 12:
        return "village"
    if len(text) == 9:
        return "township"
    if text.endswith("0000"):
        return "province"
    if text.endswith("00"):
        return "city"
    return "county"


def parent_adcode(code: str | int) -> str | None:
    """The parent by code prefix: 350505 → 350500 → 350000 → None; a 9-digit township → its 6-digit
    county (or city, for towns under cities without counties, e.g. 东莞 441900); a 12-digit village →
    its 9-digit township.

    Districts of the municipalities follow the prefix too: 110105 → 110100 (市辖区, as GB/T 2260
    lists it), not straight to 110000 as AMap-derived datasets do. A county whose city digits are 00
    goes to the province.
    """
    text = validate_adcode(code)
    if len(text) > 6:
        return text[:-3]
    if text.endswith("0000"):
        return None
    if text.endswith("00") or text[2:4] == "00":
        return text[:2] + "0000"
    return text[:4] + "00"


# --- phone numbers --------------------------------------------------------------------------------

_COUNTRY_PREFIX = re.compile(r"^(?:\+|00)86")
_MOBILE = re.compile(r"^1[3-9][0-9]{9}$")
_SERVICE = re.compile(r"^[48]00[0-9]{7}$")
_EXTENSION = re.compile(r"^(.*?)(?:转|分机|ext\.?|x|#|,)([0-9]{1,6})$", re.IGNORECASE)
_SEPARATORS = re.compile(r"\s+")


def _phone_error(field: str, value: Any, why: str = "", why_zh: str = "") -> InvalidInput:
    hint = (
        "expected a mobile number 1[3-9]XXXXXXXXX, a landline with area code 0XX(X)-XXXXXXX(X) "
        "(optional extension) or a 400/800 service number"
    )
    hint_zh = "应为 11 位手机号、带区号的固定电话（可带分机号）或 400/800 服务号码"
    return InvalidInput.one(
        field,
        f"{why + '; ' if why else ''}{hint}, got {value!r}",
        f"{why_zh + '；' if why_zh else ''}{hint_zh}，收到：{value}",
    )


def _area_code_length(digits: str) -> int:
    """010 and 02X are 3-digit area codes, every other one has 4 digits."""
    return 3 if digits.startswith(("010", "02")) else 4


def validate_phone(value: str, field: str = "phone") -> str:
    """A Chinese phone number in one canonical form.

    - mobile 1[3-9]XXXXXXXXX, with or without +86 / 0086, spaces or dashes → '13800138000';
    - landline with area code → '0591-87654321', with an extension (-, 转, 分机, ext, x, #) →
      '0591-87654321-801'; '+86 591 87654321' → '0591-87654321';
    - 400/800 service numbers → '4008108888'.
    """
    if not isinstance(value, str) or not value.strip():
        raise _phone_error(field, value)
    # NFKC folds full-width digits, brackets, plus and dash (０５９１－…) to ASCII.
    s = _SEPARATORS.sub("", unicodedata.normalize("NFKC", value))
    international = bool(_COUNTRY_PREFIX.match(s))
    if international:
        s = _COUNTRY_PREFIX.sub("", s).lstrip("-")
    s = re.sub(r"-{2,}", "-", s.replace("(", "-").replace(")", "-")).strip("-")
    plain = s.replace("-", "")
    if plain.isascii() and plain.isdigit():
        if _MOBILE.match(plain):
            return plain
        if plain.startswith("1") and not (international and plain.startswith("10")):
            why = "a mobile number has 11 digits" if len(plain) != 11 else "mobile numbers start with 13–19"
            raise _phone_error(field, value, why, "手机号应为 1[3-9] 开头的 11 位数字")
        if _SERVICE.match(plain):
            return plain
        if plain.startswith(("400", "800")):
            raise _phone_error(field, value, "400/800 numbers have 10 digits", "400/800 号码应为 10 位")
    return _landline(s, value, field, international)


def _landline(s: str, value: str, field: str, international: bool) -> str:
    extension = ""
    m = _EXTENSION.match(s)
    if m:
        s, extension = m.group(1).rstrip("-"), m.group(2)
    parts = s.split("-") if s else []
    if not parts or not all(p.isascii() and p.isdigit() for p in parts):
        raise _phone_error(field, value)
    if len(parts) >= 3 and not extension:
        # 010-1234-5678 splits the local number; 0591-87654321-801 ends with an extension.
        if len("".join(parts[1:])) > 8:
            extension = parts.pop()
        parts = [parts[0], "".join(parts[1:])]
    if len(parts) > 2:
        raise _phone_error(field, value)
    digits = "".join(parts)
    if international and not digits.startswith("0"):
        digits = "0" + digits
        parts[0] = "0" + parts[0]
    if not digits.startswith("0") or digits.startswith("00"):
        raise _phone_error(
            field, value, "a landline needs its area code (0XX or 0XXX)", "固定电话须带区号（0XX 或 0XXX）"
        )
    n = _area_code_length(digits)
    area, local = digits[:n], digits[n:]
    if len(parts) == 2 and parts[0] != area:
        raise _phone_error(field, value, f"{parts[0]!r} is not an area code", f"“{parts[0]}”不是有效区号")
    if not (7 <= len(local) <= 8 and local[0] not in "01"):
        raise _phone_error(
            field,
            value,
            "the local number after the area code has 7–8 digits and starts with 2–9",
            "区号后的本地号码应为 2–9 开头的 7–8 位数字",
        )
    return f"{area}-{local}" + (f"-{extension}" if extension else "")
