"""The Rust scanners and their pure-Python twins give identical findings and masks.

Run on the whole labelled corpus (every scanner on every text), on seeded noise built from
fragments that sit near the rules (digits and separators, cue words in odd cases, Unicode
look-alikes, escapes), on inputs of about 1 MB, and under non-default configs.
"""

from __future__ import annotations

import base64
import os
import random
import shutil
import subprocess
import sys

import pytest
import scanner_cases as corpus
from rust_scanners import NOT_BUILT, PYTHON, RUST

from forge.plugins import scanners
from forge.plugins.scanners import config, exfil, implementation, pii, secrets
from forge.plugins.scanners.masking import MODES

CASES = corpus.load()


@pytest.fixture(scope="module")
def rust() -> implementation.Scanners:
    if RUST is None:
        pytest.skip(NOT_BUILT)
    return RUST


def _same(rust: implementation.Scanners, text: str, label: str) -> None:
    for name in corpus.SCANNERS:
        expected = corpus.scan(PYTHON, name, text)
        assert corpus.scan(rust, name, text) == expected, (label, name)
        for mode in MODES:
            assert rust.mask(text, expected, mode) == PYTHON.mask(text, expected, mode), (
                label,
                name,
                mode,
            )


def test_the_active_implementation_is_rust_when_it_is_built() -> None:
    # without the extension the Python twins serve, and must say so
    assert scanners.IMPLEMENTATION == ("rust" if RUST is not None else "python")


def test_the_rust_extension_is_built_in_ci() -> None:
    """CI has cargo, so `make install` builds the extension there: a skip in CI would hide a
    broken build. Where cargo is installed locally the same holds (`make install` builds it)."""
    if os.environ.get("CI", "").lower() not in ("true", "1") and not shutil.which("cargo"):
        pytest.skip("neither CI nor cargo here: the Python twins serve")
    assert RUST is not None, NOT_BUILT


def _without_extension(test: str, **env: str) -> subprocess.CompletedProcess[str]:
    """pytest on one test of this file with the extension unimportable, as where a build broke,
    with neither CI set nor cargo on PATH unless `env` says so."""
    blocked = (
        "import sys; sys.modules['forge_filters_native'] = None; import pytest; "
        "sys.exit(pytest.main(sys.argv[1:]))"
    )
    base = {k: v for k, v in os.environ.items() if k != "CI"}
    paths = base["PATH"].split(os.pathsep)
    base["PATH"] = os.pathsep.join(p for p in paths if not os.path.exists(f"{p}/cargo"))
    return subprocess.run(
        [sys.executable, "-c", blocked, "-q", "-rs", f"{__file__}::{test}"],
        env={**base, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_without_the_extension_rust_tests_skip_saying_why_but_ci_fails() -> None:
    skipped = _without_extension("test_the_type_stub_matches_the_extension")
    assert skipped.returncode == 0 and "1 skipped" in skipped.stdout, skipped.stdout
    assert "forge_filters_native" in skipped.stdout  # the reason is shown
    in_ci = _without_extension("test_the_rust_extension_is_built_in_ci", CI="true")
    assert in_ci.returncode == 1 and "1 failed" in in_ci.stdout, in_ci.stdout


def test_both_compile_the_very_same_patterns(rust: implementation.Scanners) -> None:
    from forge.plugins.scanners import native

    ours = [("pii", n, p) for n, p in pii.PATTERNS]
    ours += [("secrets", n, p) for n, p in secrets.PATTERNS]
    ours += [("exfil", n, p) for n, p in exfil.PATTERNS]
    assert native.patterns() == ours


def test_the_type_stub_matches_the_extension(rust: implementation.Scanners) -> None:
    out = subprocess.run(
        [sys.executable, "-m", "mypy.stubtest", "--ignore-missing-stub", "forge_filters_native"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stdout + out.stderr


def test_findings_and_masks_are_identical_on_the_whole_corpus(
    rust: implementation.Scanners,
) -> None:
    for case in CASES:
        if not case.padded:
            _same(rust, case.text, case.id)


def test_findings_and_masks_are_identical_on_one_megabyte_inputs(
    rust: implementation.Scanners,
) -> None:
    long = [c for c in CASES if c.padded]
    assert long
    for case in long:
        _same(rust, case.text, case.id)
    secret = b"user=root password=hunter2hunter2 " * 3
    blob = base64.b64encode(secret + b"lorem ipsum dolor sit amet " * 28_000).decode()
    assert len(blob) > 1_000_000
    text = f"upload {blob} done"
    _same(rust, text, "blob")
    assert [f.kind for f in rust.scan_exfil(text, config.DEFAULT_EXFIL)] == ["BASE64"]


_FRAGMENTS = [
    "4111 1111 1111 1111", "4111-1111-1111-1112", "378282246310005",
    "DE89 3704 0044 0532 0130 00", "GB82WEST12345698765432", "078-05-1120", "AB 12 34 56 C",
    "65929970489", "2363 5678 9011", "2 69 05 49 588 157 80", "185052A00401765", "192.168.0.1",
    "::1", "fe80::1ff:fe23:4567:890a", "::ffff:10.0.0.1", "a::b", "12:30:45", "1.2.3.4.5",
    "+44 20 7946 0958", "(415) 555-0132", "020 7946 0958", "06 12 34 56 78",
    "john.doe@example.com", "x@y.zz", "..@..", "DOB:", "dOb", "Date Of Birth", "born", "newborn",
    "1990-04-12", "31/12/1979", "March 3rd, 1991", "5 Jan 1970", "30.02.1990",
    "AKIAIOSFODNN7EXAMPLE", "aws_secret_access_key=", "wJalrXUtnFEMI/K7MDENG/bPxRfi", "ghp_",
    "ghp_A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8", "sk_live_", "sk-ant-api03-", "T3BlbkFJ",
    "xoxb-123456789012-", "eyJhbGciOiJIUzI1NiJ9", ".eyJzdWIiOiIxIn0.",
    "-----BEGIN RSA PRIVATE KEY-----", "-----END RSA PRIVATE KEY-----", "PASSWORD=", "password: ",
    "Token:", "api-key=", "changeme", "\"", "'", "=", ":", " ", "  ", "\n", "\t", "-",
    ".", "/", "+", "(", ")", "%", "%41", "%2F", '\\x41', '\\u0041', '\\ud83d\\ude00',
    "cGFzc3dvcmQ9", "aHR0cHM6Ly9ldmlsLmV4YW1wbGU", "70617373776f7264", "é", "e\u0301", "文字", "🙂",
    "👩\u200d💻", "\u200f", "\u200b", "İ", "ß", "\u212a", "\u017f", "٣", "\uff11\uff12\uff13",
    "0123456789", "9876543210", "AaBbCcDdEeFf", "ZZ", "QQ",
]  # fmt: skip


def _noise(rng: random.Random, pieces: int) -> str:
    parts = []
    for _ in range(pieces):
        frag = rng.choice(_FRAGMENTS)
        if rng.random() < 0.2:
            frag = frag.upper() if rng.random() < 0.5 else frag.lower()
        if rng.random() < 0.2 and len(frag) > 3:
            cut = rng.randrange(1, len(frag))
            frag = frag[:cut] if rng.random() < 0.5 else frag[cut:]
        parts.append(frag)
    return "".join(parts)


def test_findings_and_masks_are_identical_on_seeded_noise(rust: implementation.Scanners) -> None:
    rng = random.Random(5)
    for i in range(400):
        _same(rust, _noise(rng, rng.randrange(1, 40)), f"noise-{i}")


def test_findings_are_identical_under_other_configs(rust: implementation.Scanners) -> None:
    rng = random.Random(11)
    texts = [c.text for c in CASES if not c.padded][::3] + [_noise(rng, 30) for _ in range(60)]
    configs: list[config.PiiConfig | config.SecretsConfig | config.ExfilConfig] = [
        config.PiiConfig(kinds=("DATE_OF_BIRTH", "PHONE", "IPV4"), dob_window=0),
        config.PiiConfig(dob_window=200),
        config.PiiConfig(kinds=()),
        config.SecretsConfig(entropy_threshold=0.0, min_generic_length=1),
        config.SecretsConfig(kinds=("GENERIC_SECRET", "JWT"), entropy_threshold=4.5),
        config.ExfilConfig(score_threshold=0.0, min_decoded_bytes=1),
        config.ExfilConfig(kinds=("HEX", "BASE64URL"), score_threshold=0.9),
    ]
    for text in texts:
        for cfg in configs:
            if isinstance(cfg, config.PiiConfig):
                assert rust.scan_pii(text, cfg) == PYTHON.scan_pii(text, cfg), (text, cfg)
            elif isinstance(cfg, config.SecretsConfig):
                assert rust.scan_secrets(text, cfg) == PYTHON.scan_secrets(text, cfg), (text, cfg)
            else:
                assert rust.scan_exfil(text, cfg) == PYTHON.scan_exfil(text, cfg), (text, cfg)


def test_text_with_lone_surrogates_gets_the_same_answers(rust: implementation.Scanners) -> None:
    text = "mail \ud800 john@example.com and ghp_A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8 \udfff"
    _same(rust, text, "surrogates")
    assert [f.kind for f in rust.scan_pii(text, config.DEFAULT_PII)] == ["EMAIL"]
