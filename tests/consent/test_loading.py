"""The loader refuses every broken covenant file, and says which file, which rule and what is wrong."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

from schakel.consent import CovenantError, load_covenants, load_policy, shipped_covenants_dir
from schakel.errors import SchakelError

_VALID: dict[str, Any] = {
    "id": "test-covenant",
    "title": {"nl": "Testconvenant", "en": "Test covenant"},
    "valid_from": "2025-01-01",
    "valid_until": "2027-12-31",
    "partners": {"kern": ["gemeente-veiligheid", "politie", "ggz", "zvh"]},
    "purposes": {"test-purpose": {"nl": "Testen", "en": "Testing", "themes": ["CTER", "OTHER"]}},
    "rules": [
        {
            "id": "1",
            "title": "Signaal aan de politie",
            "events": ["Signal"],
            "from": ["gemeente-veiligheid"],
            "to": ["politie"],
            "purpose": "test-purpose",
            "fields": ["subject.bsn", "observed_behaviour", "ideology", "urgency"],
            "legal_basis": {
                "general": ["AVG 6(1)(e)"],
                "bsn": ["Wabb 10"],
                "criminal": ["AVG 10"],
                "belief": ["AVG 9(2)(g)"],
            },
        },
        {
            "id": "2",
            "title": "GGZ aan het ZVH",
            "events": ["InformationContribution"],
            "from": ["ggz"],
            "to": ["zvh"],
            "purpose": "test-purpose",
            "fields": ["contribution", "diagnosis"],
            "legal_basis": {"general": ["AVG 6(1)(e)"], "health": ["AVG 9(2)(g)"]},
            "conditions": {"secrecy_grounds": ["consent", "conflict_of_duties"], "consent_recorded_by": ["controller"]},
        },
    ],
}


def _write(directory: Path, document: Any, name: str = "test.yaml") -> Path:
    path = directory / name
    path.write_text(yaml.safe_dump(document, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path


def _problems(directory: Path) -> tuple[str, ...]:
    with pytest.raises(CovenantError) as caught:
        load_covenants(directory)
    assert isinstance(caught.value, SchakelError)
    return caught.value.problems


def _broken(tmp_path: Path, change: Any) -> str:
    document = copy.deepcopy(_VALID)
    change(document)
    _write(tmp_path, document)
    problems = _problems(tmp_path)
    assert len(problems) == 1, problems
    assert problems[0].startswith(str(tmp_path / "test.yaml") + ": ")
    return problems[0]


def test_valid_file_loads(tmp_path: Path) -> None:
    _write(tmp_path, _VALID)
    (covenant,) = load_covenants(tmp_path)
    assert covenant.id == "test-covenant"
    assert [r.id for r in covenant.rules] == ["1", "2"]
    assert covenant.rules[1].conditions.secrecy_grounds == ("consent", "conflict_of_duties")
    assert load_policy(tmp_path).rule_count == 2


def test_shipped_covenants_load() -> None:
    assert len(load_covenants()) == 4
    assert load_covenants(shipped_covenants_dir()) == load_covenants()


def test_unknown_organisation(tmp_path: Path) -> None:
    problem = _broken(tmp_path, lambda d: d["rules"][0].update({"to": ["politei"]}))
    assert "rule 1" in problem
    assert "unknown organisation 'politei'" in problem


def test_organisation_that_is_not_a_partner(tmp_path: Path) -> None:
    problem = _broken(tmp_path, lambda d: d["rules"][0].update({"to": ["om"]}))
    assert "rule 1" in problem
    assert "'om'" in problem
    assert "not a partner" in problem


def test_unknown_event_type(tmp_path: Path) -> None:
    problem = _broken(tmp_path, lambda d: d["rules"][0].update({"events": ["Sginal"]}))
    assert "rule 1: unknown event type 'Sginal'" in problem


def test_unknown_field(tmp_path: Path) -> None:
    problem = _broken(tmp_path, lambda d: d["rules"][0]["fields"].append("ideolgy"))
    assert "rule 1: unknown field 'ideolgy' for event type Signal" in problem


def test_field_of_another_event_type(tmp_path: Path) -> None:
    problem = _broken(tmp_path, lambda d: d["rules"][0]["fields"].append("diagnosis"))
    assert "unknown field 'diagnosis' for event type Signal" in problem


def test_special_category_without_its_basis(tmp_path: Path) -> None:
    problem = _broken(tmp_path, lambda d: d["rules"][0]["legal_basis"].pop("belief"))
    assert "rule 1" in problem
    assert "'ideology' (belief)" in problem
    assert "without a legal basis for belief data" in problem


def test_health_without_its_basis(tmp_path: Path) -> None:
    problem = _broken(tmp_path, lambda d: d["rules"][1]["legal_basis"].pop("health"))
    assert "rule 2" in problem
    assert "'diagnosis' (health)" in problem


def test_criminal_data_without_its_basis(tmp_path: Path) -> None:
    problem = _broken(tmp_path, lambda d: d["rules"][0]["legal_basis"].pop("criminal"))
    assert "'observed_behaviour' (criminal)" in problem


def test_bsn_without_its_basis(tmp_path: Path) -> None:
    problem = _broken(tmp_path, lambda d: d["rules"][0]["legal_basis"].pop("bsn"))
    assert "'subject.bsn' (bsn)" in problem


def test_basis_that_cannot_justify_the_category(tmp_path: Path) -> None:
    def change(d: dict[str, Any]) -> None:
        d["rules"][0]["legal_basis"]["belief"] = ["AVG 6(1)(e)"]

    document = copy.deepcopy(_VALID)
    change(document)
    _write(tmp_path, document)
    problems = _problems(tmp_path)
    assert any("'AVG 6(1)(e)' cannot justify belief data" in p for p in problems)


def test_unknown_legal_basis(tmp_path: Path) -> None:
    problem = _broken(tmp_path, lambda d: d["rules"][0]["legal_basis"]["general"].append("AVG 6(1)(f)"))
    assert "unknown legal basis 'AVG 6(1)(f)'" in problem


def test_police_sender_needs_a_police_law_basis(tmp_path: Path) -> None:
    def change(d: dict[str, Any]) -> None:
        d["rules"][0]["from"] = ["politie"]
        d["rules"][0]["to"] = ["gemeente-veiligheid"]

    document = copy.deepcopy(_VALID)
    change(document)
    _write(tmp_path, document)
    problems = _problems(tmp_path)
    assert any("no general legal basis in the Wpg regime of sender 'politie'" in p for p in problems)
    assert any("'ideology' (belief)" in p and "Wpg regime" in p for p in problems)


def test_the_partnership_law_does_not_replace_the_senders_own_regime(tmp_path: Path) -> None:
    def change(d: dict[str, Any]) -> None:
        d["rules"][0].update({"from": ["politie"], "to": ["gemeente-veiligheid"], "fields": ["urgency"]})
        d["rules"][0]["legal_basis"] = {"general": ["AVG 6(1)(e)", "WGS 2.1"]}

    problem = _broken(tmp_path, change)
    assert "rule 1: no general legal basis in the Wpg regime of sender 'politie'" in problem


def test_invalid_date(tmp_path: Path) -> None:
    problem = _broken(tmp_path, lambda d: d.update({"valid_until": "2027-02-30"}))
    assert "'valid_until' is not a valid date" in problem


def test_validity_the_wrong_way_round(tmp_path: Path) -> None:
    problem = _broken(tmp_path, lambda d: d.update({"valid_until": "2024-12-31"}))
    assert "before valid_from" in problem


def test_unquoted_yaml_date_is_checked_too(tmp_path: Path) -> None:
    text = yaml.safe_dump(_VALID, sort_keys=False).replace("valid_from: '2025-01-01'", "valid_from: 2025-13-01")
    assert "2025-13-01" in text
    (tmp_path / "test.yaml").write_text(text, encoding="utf-8")
    (problem,) = _problems(tmp_path)
    assert "'valid_from' is not a valid date" in problem


def test_ggz_rule_without_a_secrecy_condition(tmp_path: Path) -> None:
    problem = _broken(tmp_path, lambda d: d["rules"][1].pop("conditions"))
    assert "rule 2" in problem
    assert "professional secrecy" in problem


def test_ggz_consent_alone_is_not_enough_where_the_event_records_the_ground(tmp_path: Path) -> None:
    problem = _broken(
        tmp_path,
        lambda d: d["rules"][1].update({"conditions": {"consent": True, "consent_recorded_by": ["controller"]}}),
    )
    assert "rule 2" in problem
    assert "InformationContribution records the ground" in problem


def test_ggz_signal_may_rest_on_consent_on_file(tmp_path: Path) -> None:
    document = copy.deepcopy(_VALID)
    document["rules"][0]["from"] = ["ggz"]
    document["rules"][0]["conditions"] = {"consent": True, "consent_recorded_by": ["controller"]}
    _write(tmp_path, document)
    (covenant,) = load_covenants(tmp_path)
    assert covenant.rules[0].conditions.consent


def test_secrecy_condition_on_a_type_that_cannot_record_a_ground(tmp_path: Path) -> None:
    def change(d: dict[str, Any]) -> None:
        d["rules"][0]["conditions"] = {"secrecy_grounds": ["legal_duty"]}

    problem = _broken(tmp_path, change)
    assert "Signal cannot record a secrecy ground" in problem


def test_unknown_secrecy_ground_and_condition(tmp_path: Path) -> None:
    def change(d: dict[str, Any]) -> None:
        d["rules"][1]["conditions"] = {"secrecy_grounds": ["curiosity"], "consnet": True}

    document = copy.deepcopy(_VALID)
    change(document)
    _write(tmp_path, document)
    problems = _problems(tmp_path)
    assert any("unknown secrecy ground 'curiosity'" in p for p in problems)
    assert any("unknown condition 'consnet'" in p for p in problems)


def test_purpose_not_declared(tmp_path: Path) -> None:
    problem = _broken(tmp_path, lambda d: d["rules"][0].update({"purpose": "curiosity"}))
    assert "purpose 'curiosity' is not one of the covenant's purposes" in problem


def test_duplicate_rule_ids(tmp_path: Path) -> None:
    problem = _broken(tmp_path, lambda d: d["rules"][1].update({"id": "1"}))
    assert "rule 1: duplicate rule id" in problem


def test_unknown_keys(tmp_path: Path) -> None:
    problem = _broken(tmp_path, lambda d: d["rules"][0].update({"feilds": ["urgency"]}))
    assert "rule 1: unknown key 'feilds'" in problem


def test_duplicate_yaml_keys(tmp_path: Path) -> None:
    text = yaml.safe_dump(_VALID, sort_keys=False) + "id: again\n"
    (tmp_path / "test.yaml").write_text(text, encoding="utf-8")
    (problem,) = _problems(tmp_path)
    assert "duplicate key 'id'" in problem
    assert "line" in problem


def test_invalid_yaml(tmp_path: Path) -> None:
    (tmp_path / "test.yaml").write_text("id: [unclosed\n", encoding="utf-8")
    (problem,) = _problems(tmp_path)
    assert "not valid YAML" in problem


def test_every_problem_of_every_file_is_reported(tmp_path: Path) -> None:
    first = copy.deepcopy(_VALID)
    first["rules"][0]["to"] = ["politei"]
    first["rules"][1]["fields"] = ["diagnosiss"]
    second = copy.deepcopy(_VALID)
    second["valid_from"] = "yesterday"
    _write(tmp_path, first, "a.yaml")
    _write(tmp_path, second, "b.yaml")
    problems = _problems(tmp_path)
    assert len(problems) == 3
    assert sum("a.yaml: rule" in p for p in problems) == 2
    assert sum("b.yaml" in p for p in problems) == 1


def test_duplicate_covenant_ids_across_files(tmp_path: Path) -> None:
    _write(tmp_path, _VALID, "a.yaml")
    _write(tmp_path, _VALID, "b.yaml")
    (problem,) = _problems(tmp_path)
    assert "b.yaml" in problem
    assert "a.yaml" in problem
    assert "test-covenant" in problem


def test_empty_or_missing_directory(tmp_path: Path) -> None:
    assert "no covenant files" in _problems(tmp_path)[0]
    assert "not a directory" in _problems(tmp_path / "missing")[0]


def test_version_is_a_hash_of_the_content_not_the_layout(tmp_path: Path) -> None:
    _write(tmp_path, _VALID)
    (original,) = load_covenants(tmp_path)
    text = "# a comment changes nothing\n" + yaml.safe_dump(_VALID, sort_keys=True, indent=4)
    (tmp_path / "test.yaml").write_text(text, encoding="utf-8")
    (relaid,) = load_covenants(tmp_path)
    assert relaid.version == original.version
    changed = copy.deepcopy(_VALID)
    changed["rules"][0]["fields"].remove("ideology")
    _write(tmp_path, changed)
    (edited,) = load_covenants(tmp_path)
    assert edited.version != original.version


def test_a_consent_condition_must_say_who_may_record_the_consent(tmp_path: Path) -> None:
    def drop(document: dict[str, Any]) -> None:
        del document["rules"][1]["conditions"]["consent_recorded_by"]

    problem = _broken(tmp_path, drop)
    assert "rule 2" in problem
    assert "consent_recorded_by" in problem


def test_who_records_the_consent_is_the_controller_or_a_partner(tmp_path: Path) -> None:
    def stranger(document: dict[str, Any]) -> None:
        document["rules"][1]["conditions"]["consent_recorded_by"] = ["controller", "om"]

    assert "consent_recorded_by names 'om', not a partner" in _broken(tmp_path, stranger)

    def unknown(document: dict[str, Any]) -> None:
        document["rules"][1]["conditions"]["consent_recorded_by"] = ["anyone"]

    assert "unknown organisation 'anyone'" in _broken(tmp_path, unknown)


def test_who_records_a_consent_without_a_consent_condition_is_refused(tmp_path: Path) -> None:
    def stray(document: dict[str, Any]) -> None:
        document["rules"][0]["conditions"] = {"consent_recorded_by": ["controller"]}

    assert "consent_recorded_by without a consent condition" in _broken(tmp_path, stray)


def test_addressed_is_refused_the_sender_does_not_invite(tmp_path: Path) -> None:
    def addressed(document: dict[str, Any]) -> None:
        document["rules"][0]["conditions"] = {"addressed": True}

    assert "use 'invited'" in _broken(tmp_path, addressed)


def test_a_purpose_names_its_themes(tmp_path: Path) -> None:
    def themeless(document: dict[str, Any]) -> None:
        del document["purposes"]["test-purpose"]["themes"]

    assert "must name the 'themes'" in _broken(tmp_path, themeless)

    def unknown(document: dict[str, Any]) -> None:
        document["purposes"]["test-purpose"]["themes"] = ["SPORTS"]

    assert "unknown theme 'SPORTS'" in _broken(tmp_path, unknown)


def test_no_rule_may_share_the_hubs_signal_bundle(tmp_path: Path) -> None:
    problem = _broken(tmp_path, lambda d: d["rules"][0].update({"events": ["SignalBundle"]}))
    assert "rule 1: SignalBundle is the hub's agenda proposal to the ZVH; no rule may share one" in problem
