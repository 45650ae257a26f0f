"""The scanners' rules one by one: check digits, overlaps, cues, masking modes, configs, and
how the implementation is chosen."""

from __future__ import annotations

import base64
import os
import subprocess
import sys

import pytest
from rust_scanners import BOTH

from forge.core.errors import InvalidParamsError
from forge.plugins import scanners
from forge.plugins.scanners import checks, implementation
from forge.plugins.scanners.config import ExfilConfig, PiiConfig, SecretsConfig
from forge.plugins.scanners.text import digits

IMPLS = pytest.mark.parametrize("impl", BOTH)


def test_check_digits_accept_known_good_numbers_and_refuse_one_digit_off() -> None:
    assert checks.luhn(digits("4111 1111 1111 1111"))
    assert not checks.luhn(digits("4111 1111 1111 1112"))
    assert checks.iban_mod97("GB82WEST12345698765432")
    assert not checks.iban_mod97("GB82WEST12345698765433")
    assert checks.verhoeff(digits("2363 5678 9011"))
    assert not checks.verhoeff(digits("2363 5678 9012"))
    assert checks.de_tax_id(digits("65929970489"))
    assert not checks.de_tax_id(digits("65929970488"))
    assert checks.insee("269054958815780")
    assert checks.insee("185052A00401765")
    assert not checks.insee("269054958815781")
    assert not checks.us_ssn(digits("666-12-3456"))
    assert checks.ipv6("::ffff:192.0.2.128")
    assert not checks.ipv6("1::2::3")


@IMPLS
def test_a_higher_ranked_kind_claims_an_overlapping_span(impl: implementation.Scanners) -> None:
    # the GitHub token also follows a generic "token=" cue: one finding, the specific one
    text = "token=ghp_A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8"
    found = impl.scan_secrets(text, SecretsConfig())
    assert [(f.kind, f.start, f.end) for f in found] == [("GITHUB_TOKEN", 6, len(text))]


@IMPLS
def test_a_birth_cue_announces_only_the_first_date_after_it(impl: implementation.Scanners) -> None:
    text = "DOB 1990-04-12, hired 2015-06-01"
    assert [f.kind for f in impl.scan_pii(text, PiiConfig())] == ["DATE_OF_BIRTH"]
    assert impl.scan_pii(text, PiiConfig(dob_window=0)) == []  # one space away


@IMPLS
def test_offsets_count_code_points_not_bytes(impl: implementation.Scanners) -> None:
    text = "👩\u200d💻é mail a@example.com"
    [found] = impl.scan_pii(text, PiiConfig())
    assert text[found.start : found.end] == "a@example.com"


@IMPLS
def test_encoded_secrets_score_higher_than_encoded_prose(impl: implementation.Scanners) -> None:
    secret = "blob " + base64.b64encode(b"password=Xk9#mP2$vL8qW!z").decode()
    prose = "blob " + base64.b64encode(b"The cat sat on the mat").decode()
    [found] = impl.scan_exfil(secret, ExfilConfig())
    assert (found.kind, found.detail) == ("BASE64", "text,keyword,secret:GENERIC_SECRET")
    assert impl.scan_exfil(prose, ExfilConfig()) == []
    assert impl.scan_exfil(prose, ExfilConfig(score_threshold=0.0))[0].detail == "text"


@IMPLS
def test_masking_modes(impl: implementation.Scanners) -> None:
    text = "Mail john.doe@example.com, card 4111 1111 1111 1111."
    found = impl.scan_pii(text, PiiConfig())
    assert impl.mask(text, found, "redact") == "Mail [REDACTED:EMAIL], card [REDACTED:CREDIT_CARD]."
    assert (
        impl.mask(text, found, "partial") == "Mail j***.***@example.com, card **** **** **** 1111."
    )
    assert impl.mask(text, found, "hash") == "Mail [EMAIL:836f82db], card [CREDIT_CARD:6a7e0e79]."


@IMPLS
def test_masking_skips_a_span_that_overlaps_an_earlier_one(impl: implementation.Scanners) -> None:
    assert impl.mask("abcdef", [("X", 3, 5), ("Y", 1, 4)], "redact") == "a[REDACTED:Y]ef"


@IMPLS
def test_masking_refuses_unknown_modes_and_spans_outside_the_text(
    impl: implementation.Scanners,
) -> None:
    with pytest.raises(InvalidParamsError):
        impl.mask("abc", [], "shred")
    with pytest.raises(InvalidParamsError):
        impl.mask("abc", [("X", 1, 4)], "redact")
    with pytest.raises(InvalidParamsError):
        impl.mask("abc", [("X", -1, 2)], "redact")


def test_configs_refuse_unknown_kinds_and_bad_thresholds() -> None:
    with pytest.raises(InvalidParamsError):
        PiiConfig(kinds=("EMAIL", "SHOE_SIZE"))
    with pytest.raises(InvalidParamsError):
        SecretsConfig(entropy_threshold=-1.0)
    with pytest.raises(InvalidParamsError):
        ExfilConfig(min_decoded_bytes=0)


def test_choosing_an_implementation() -> None:
    assert implementation.choose("python").name == "python"
    assert implementation.choose(None).name == scanners.IMPLEMENTATION
    with pytest.raises(InvalidParamsError):
        implementation.choose("fortran")


def test_forge_scanners_impl_python_forces_the_twin() -> None:
    env = {**os.environ, "FORGE_SCANNERS_IMPL": "python"}
    out = subprocess.run(
        [sys.executable, "-c", "import forge.plugins.scanners as s; print(s.IMPLEMENTATION)"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    assert out.stdout.strip() == "python"
