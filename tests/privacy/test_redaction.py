"""Rule-based PHI redaction: what is found, what is left alone, offsets preserved."""

from __future__ import annotations

from pathlib import Path

import pytest

from schemas.redaction import PHI_KINDS, find_phi, mask, redact

SAMPLES = Path(__file__).resolve().parents[2] / "samples" / "notes"


@pytest.mark.parametrize(
    ("text", "kind", "phi"),
    [
        ("Seen by Dr. Jane Placeholder today.", "NAME", "Jane Placeholder"),
        ("Mrs. Ana Lopez-Garcia reports pain.", "NAME", "Ana Lopez-Garcia"),
        ("Electronically signed by Omar K. Haddad, MD", "NAME", "Omar K. Haddad"),
        ("Electronically signed by: Dr. Lee Wong", "NAME", "Lee Wong"),
        ("Patient: Test Patient One", "NAME", "Test Patient One"),
        ("Admitted 03/14/2025 for chest pain.", "DATE", "03/14/2025"),
        ("Follow-up on March 3, 2026.", "DATE", "March 3, 2026"),
        ("Surgery 2025-05-21 uneventful.", "DATE", "2025-05-21"),
        ("Seen 22 April 2025 in clinic.", "DATE", "22 April 2025"),
        ("Call (617) 555-0142 with results.", "PHONE", "(617) 555-0142"),
        ("Fax: 617-555-0199", "PHONE", "617-555-0199"),
        ("pager 555-0100", "PHONE", "555-0100"),
        ("Email jane.doe@example.org please.", "EMAIL", "jane.doe@example.org"),
        (
            "Lives at 42 Oak Hill Road, Springfield, IL 62704.",
            "ADDRESS",
            "42 Oak Hill Road, Springfield, IL 62704",
        ),
        ("MRN 000123456", "MRN", "000123456"),
        ("Medical record number: AB1234567", "MRN", "AB1234567"),
        ("SSN 123-45-6789 on file.", "SSN", "123-45-6789"),
        ("Social security number 123456789.", "SSN", "123456789"),
    ],
)
def test_finds_planted_phi(text: str, kind: str, phi: str) -> None:
    spans = find_phi(text)
    start = text.index(phi)
    covered = {i for s in spans for i in range(s.start, s.end)}
    assert all(i in covered for i in range(start, start + len(phi)) if not text[i].isspace())
    assert any(s.kind == kind for s in spans)


@pytest.mark.parametrize(
    "text",
    [
        "BP 120/80, HR 72, RR 16, SpO2 97% on RA.",
        "Metformin 500 mg twice daily; lisinopril 10 mg daily.",
        "History of MS (multiple sclerosis) and CHF.",
        "Troponin 0.04 ng/mL at 6 h; glucose 110-140 mg/dL.",
        "12-lead ECG: PR 160 ms, QRS 90 ms.",
        "Take 1-2 tablets every 4-6 hours as needed.",
        "Hospital day 2. Apgar 8/9.",
        "Diagnosed in 2019 with type 2 diabetes.",
    ],
)
def test_leaves_clinical_text_alone(text: str) -> None:
    assert find_phi(text) == []
    assert redact(text) == text


def test_mask_keeps_length_lines_and_offsets() -> None:
    text = "Dr. Jane Placeholder\nMRN 000123456\nchest pain"
    red = redact(text)
    assert len(red) == len(text)
    assert red.splitlines()[2] == "chest pain"
    assert red.index("chest pain") == text.index("chest pain")
    assert [i for i, c in enumerate(red) if c.isspace()] == [
        i for i, c in enumerate(text) if c.isspace()
    ]
    assert "Placeholder" not in red and "000123456" not in red
    assert red.startswith("Dr. **** ***********")


def test_kinds_filter_and_validation() -> None:
    text = "Dr. Jane Placeholder, MRN 000123456"
    assert {s.kind for s in find_phi(text, kinds={"MRN"})} == {"MRN"}
    with pytest.raises(ValueError):
        find_phi(text, kinds={"GENE"})
    with pytest.raises(ValueError):
        mask(text, [], char=" ")
    assert set(PHI_KINDS) >= {s.kind for s in find_phi(text)}


@pytest.mark.skipif(not SAMPLES.is_dir(), reason="samples/notes not in this checkout")
def test_sample_notes_fake_phi_is_masked() -> None:
    for path in sorted(SAMPLES.glob("*.txt")):
        text = path.read_text(encoding="utf-8")
        red = redact(text)
        assert len(red) == len(text)
        for phi in ("Jane Placeholder", "000123456", "555-0100", "03/14/2025"):
            assert phi not in red, (path.name, phi)
