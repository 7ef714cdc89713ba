"""The machine identity: py-cpuinfo's reading of ``/proc/cpuinfo`` tells CPUs of one marketing name apart, names
them in words, and the guards refuse rows of another identity, or of the older identity that could not tell."""

from __future__ import annotations

from pathlib import Path

import cpuinfo
import pandas as pd
import pytest

from suite import environment
from suite.environment import FINGERPRINT_FIELDS, cpu_identity, cpu_words, fingerprint, require_one_fingerprint
from suite.errors import SuiteError
from suite.run.plan import refuse_other_machines

FIXTURES = Path(__file__).parent / "fixtures" / "cpuinfo"
ZEN3, ZEN4, ZEN5 = "epyc_zen3_family25_model1", "epyc_zen4_family25_model17", "epyc_zen5_family26_model2"


def read_cpuinfo(name: str, monkeypatch) -> dict:
    """What py-cpuinfo reads from the fixture ``name`` as if it were this machine's /proc/cpuinfo."""
    text = (FIXTURES / f"{name}.txt").read_text()
    monkeypatch.setattr(cpuinfo.cpuinfo.DataSource, "has_proc_cpuinfo", staticmethod(lambda: True))
    monkeypatch.setattr(cpuinfo.cpuinfo.DataSource, "cat_proc_cpuinfo", staticmethod(lambda: (0, text)))
    return cpuinfo.cpuinfo._get_cpu_info_from_proc_cpuinfo()


def stack_facts(identity: dict[str, str]) -> dict[str, str]:
    """The fingerprint's fields for ``identity`` on one software stack, the rest held equal."""
    return {field: identity.get(field, "same") for field in FINGERPRINT_FIELDS}


def test_zen3_and_zen4_of_one_marketing_name_get_two_identities_and_are_named_apart(monkeypatch):
    zen3, zen4 = (cpu_identity(read_cpuinfo(name, monkeypatch)) for name in (ZEN3, ZEN4))
    assert zen3["cpu_model"] == zen4["cpu_model"] == "AMD EPYC", "the marketing name alone can't tell them apart"
    assert (zen3["cpu_family"], zen3["cpu_model_number"]) == ("25", "1")
    assert (zen4["cpu_family"], zen4["cpu_model_number"]) == ("25", "17")
    assert "avx2" in zen3["cpu_flags"].split() and "avx512f" not in zen3["cpu_flags"].split()
    assert {"avx512f", "avx512_bf16", "avx512_vnni"} <= set(zen4["cpu_flags"].split())
    assert fingerprint(stack_facts(zen3)) != fingerprint(stack_facts(zen4))
    assert cpu_words(zen3) == "AMD EPYC (family 25 model 1, AVX2)"
    assert cpu_words(zen4) == "AMD EPYC (family 25 model 17, AVX-512)"
    assert cpu_words(cpu_identity(read_cpuinfo(ZEN5, monkeypatch))) == "AMD EPYC (family 26 model 2, AVX-512)"


def test_one_machine_read_twice_keeps_its_fingerprint(monkeypatch):
    once, again = (fingerprint(stack_facts(cpu_identity(read_cpuinfo(ZEN3, monkeypatch)))) for _ in range(2))
    assert once == again and len(once) == 12


def test_each_speed_fact_changes_the_identity(monkeypatch):
    base = cpu_identity(read_cpuinfo(ZEN4, monkeypatch))
    for field in ("cpu_vendor", "cpu_family", "cpu_model_number", "cpu_stepping", "cpu_flags", "cpu_caches"):
        assert fingerprint(stack_facts(base)) != fingerprint(stack_facts({**base, field: "other"})), field


def test_this_machines_rows_name_the_cpu_in_words():
    facts = environment.environment()
    assert facts["cpu_family"] and facts["cpu_model_number"] and facts["cpu_vendor"]
    words = environment.device_name("cpu")
    assert words.startswith(f"cpu: {facts['cpu_model']} (family {facts['cpu_family']} model ")
    assert words.endswith(f") x{facts['cpu_count']}")


def rows(identity: dict[str, str], count: int = 2) -> pd.DataFrame:
    facts = stack_facts(identity)
    return pd.DataFrame([{**facts, "fingerprint": fingerprint(facts)}] * count)


def test_the_guards_name_the_cpu_fields_that_differ(monkeypatch):
    zen3, zen4 = (cpu_identity(read_cpuinfo(name, monkeypatch)) for name in (ZEN3, ZEN4))
    differing = r"2 machine fingerprints \(differing: cpu_model_number, cpu_flags, cpu_caches\)"
    with pytest.raises(SuiteError, match=differing):
        require_one_fingerprint(pd.concat([rows(zen3), rows(zen4)]))
    require_one_fingerprint(pd.concat([rows(zen3), rows(zen3)]))


def test_rows_of_the_older_fingerprint_get_advice_not_a_field_list(monkeypatch):
    """A folder written before the identity (no cpu_* fields beyond the name) is read, and mixing it with new rows
    says what happened and how to go on."""
    new = rows(cpu_identity(read_cpuinfo(ZEN3, monkeypatch)))
    old = pd.DataFrame([{"cpu_model": "AMD EPYC", "cpu_count": "2", "fingerprint": "0123456789ab"}])
    with pytest.raises(SuiteError) as refused:
        require_one_fingerprint(pd.concat([old, new], ignore_index=True), what="a and b")
    message = str(refused.value)
    assert message.startswith("a and b mix 2 machine fingerprints: 1 row(s) were written by an older suite")
    assert "new --results folder" in message and "--force" in message and "\n" not in message
    require_one_fingerprint(pd.concat([old, new], ignore_index=True), force=True)


def test_resuming_a_folder_of_the_older_fingerprint_says_how_to_go_on(monkeypatch, tmp_path):
    here = rows(cpu_identity(read_cpuinfo(ZEN3, monkeypatch)), 1).iloc[0].to_dict()
    old = pd.DataFrame([{"status": "ok", "cpu_model": "AMD EPYC", "cpu_count": "2", "fingerprint": "0123456789ab"}])
    with pytest.raises(SuiteError, match=r"holds rows of another machine fingerprint: 1 row\(s\) were written by an "):
        refuse_other_machines(tmp_path, old, here)
    refuse_other_machines(tmp_path, pd.DataFrame([{**here, "status": "ok"}]), here)
