"""Name keys: one key per name up to case, spaces and punctuation; per label; no name in it."""

from schemas.ids import NAME_KEY_HEX, name_key, normalise_name


def test_name_key_folds_case_spaces_and_punctuation() -> None:
    assert normalise_name(" Fluticasone/Salmeterol ") == "fluticasone salmeterol"
    assert normalise_name("fluticasone - salmeterol") == "fluticasone salmeterol"
    assert normalise_name("ＡＭＯＸＩＣＩＬＬＩＮ_clavulanate") == "amoxicillin clavulanate"
    key = name_key("MEDICATION", "Fluticasone-salmeterol")
    assert key == name_key("MEDICATION", "fluticasone / salmeterol")
    assert len(key) == NAME_KEY_HEX and int(key, 16) >= 0
    assert key != name_key("MEDICATION", "salmeterol-fluticasone")
    assert key != name_key("ALLERGY", "Fluticasone-salmeterol")
    assert "fluticasone" not in key
