"""Fuzzing every parser, ``verify`` and the CLI with random and structure-aware malformed input.

Properties:

- parsers (``load_evidence``, ``Collateral.from_json``, ``load_pem_chain``, ``TrustRoot.from_der``,
  ``load_policy``; ``parse_td_quote`` with its ``QuoteFormatError``) raise nothing but their
  input error;
- ``verify`` never raises on bad input, and a changed input passes only when the verifier reads
  from it exactly what it reads from the authentic one (``tests/strategies.py`` oracles);
- the CLI exits 2 with exactly one line on stderr, no traceback, for a malformed file.

CI runs a bounded, derandomized profile; ``CVM_VERIFIER_FUZZ_EXAMPLES=100000`` runs a long random
one of at least that many inputs (README, Development). The count tried is printed at the end.
"""

from __future__ import annotations

import contextlib
import io
import json
import tomllib
from pathlib import Path
from typing import Any

import pytest
import tomlkit
from hypothesis import assume, given
from hypothesis import strategies as st

from tests.corpus import REPO, Case, case, forged
from tests.mutations import Inputs, pem_certificates, pem_with_der, tally, with_inputs
from tests.shapes import app_instance
from tests.strategies import (
    FUZZ_TESTS,
    Source,
    byte_edit,
    dump,
    fuzz_settings,
    json_values,
    mutated_document,
    mutated_events,
    parsed,
    pem_ders,
    same_collateral,
    same_evidence,
    same_quote,
    sampled,
    toml_values,
)
from tests.strategies import json_edit as json_edit_strategy
from verifier import (
    Collateral,
    InputError,
    Report,
    TrustRoot,
    load_evidence,
    load_policy,
)
from verifier.certificates import load_pem_chain
from verifier.cli import main
from verifier.policy_init import pin_policy
from verifier.quote import QuoteFormatError, parse_td_quote

TALLY = tally("fuzz")
#: Fuzzed certificates carry negative serial numbers or names of the wrong length, which
#: cryptography still loads with a warning (the CLI does not print them; a future cryptography
#: refuses them, and load_pem_chain then says InputError).
pytestmark = [
    pytest.mark.filterwarnings("ignore:Parsed a serial number:UserWarning"),
    pytest.mark.filterwarnings("ignore:Attribute's length must be:UserWarning"),
]

#: The passing cases whose inputs the fuzzers start from.
CASES: dict[str, Case] = {
    "demo": forged("demo"),
    "app-uptodate": case("app-uptodate"),
    "kms-uptodate": case("kms-uptodate"),
    "plain-td": case("plain-td"),
}
EVIDENCE = [Source(name, c.evidence) for name, c in CASES.items()] + [
    # the public app endpoint's instance shape (verifier.evidence: phala-app-instance)
    Source("app-instance", json.dumps(app_instance(CASES["app-uptodate"])).encode(), "app-uptodate")
]
COLLATERAL = [Source(name, c.collateral) for name, c in CASES.items()]
CHAINS = [Source(name, c.chain) for name, c in CASES.items() if c.chain is not None]
COMPOSES = [Source(name, c.compose) for name, c in CASES.items() if c.compose is not None]
QUOTES = [Source(name, load_evidence(c.evidence).quote or b"") for name, c in CASES.items()]


def _policies() -> list[Source]:
    readme = (REPO / "README.md").read_text()
    example = readme.split("```toml\n", 1)[1].split("```", 1)[0]
    demo = Inputs.of(CASES["demo"]).verify()
    pinned = pin_policy(demo, evidence_label="fixtures/demo/attestation.json")
    return [Source("README", example.encode()), Source("policy init", pinned.encode())]


POLICIES = _policies()
DEMO_REPORT = Inputs.of(CASES["demo"]).verify()


def _verify(name: str, **changes: Any) -> Report:
    """Verify ``name``'s case with some of its inputs replaced; never raises (the property)."""
    inputs = with_inputs(Inputs.of(CASES[name]), **changes)
    TALLY.tried += 1
    report = inputs.verify()
    # an exception inside a check fails closed, but it is a defect all the same
    crashed = [f"{f.id}: {f.reason}" for f in report.findings if "internal error" in f.reason]
    assert not crashed, crashed
    if report.verdict.value == "fail":
        TALLY.refused += 1
    return report


def _refused(parse: Any, data: Any, error: type[Exception] = InputError) -> bool:
    """Run a parser: True when it refused ``data`` with ``error``; any other exception fails."""
    TALLY.tried += 1
    try:
        parse(data)
    except error:
        TALLY.refused += 1
        return True
    return False


def test_the_long_run_budget_covers_every_fuzz_test() -> None:
    fuzz_tests = [name for name in globals() if name.startswith("test_fuzz_")]
    assert len(fuzz_tests) == FUZZ_TESTS


# --- parsers: nothing but their input error --------------------------------------------------

random_documents = st.binary(max_size=2048) | json_values.map(dump) | st.text().map(str.encode)


#: Text as a ``str``, lone surrogates included (they cannot be encoded to bytes).
random_text = st.text(
    alphabet=st.characters(exclude_categories=[])
    | st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF),
    max_size=64,
) | json_values.map(lambda v: json.dumps(v, ensure_ascii=False))


@fuzz_settings(200)
@given(random_documents, random_text)
def test_fuzz_every_parser_refuses_random_input_cleanly(data: bytes, text: str) -> None:
    for parse in (load_evidence, Collateral.from_json, load_pem_chain):
        _refused(parse, text)  # the library also takes str
    _refused(load_evidence, data)
    _refused(Collateral.from_json, data)
    _refused(load_pem_chain, data)
    _refused(TrustRoot.from_der, data)
    _refused(lambda d: load_policy(d, source="fuzz.toml"), data)
    _refused(parse_td_quote, data, QuoteFormatError)
    # and verify() makes a failing report of it, as evidence or as collateral
    assert not _verify("kms-uptodate", evidence=data).passed
    assert not _verify("kms-uptodate", collateral=data).passed


@fuzz_settings(200)
@given(sampled(EVIDENCE).flatmap(lambda s: mutated_document(parsed(s.data)).map(dump)))
def test_fuzz_load_evidence_on_mutated_documents(data: bytes) -> None:
    _refused(load_evidence, data)


@fuzz_settings(200)
@given(sampled(QUOTES).flatmap(lambda s: byte_edit(s.data)))
def test_fuzz_parse_td_quote_on_mutated_quotes(data: bytes) -> None:
    _refused(parse_td_quote, data, QuoteFormatError)


def _der_edit(pem: bytes) -> st.SearchStrategy[bytes]:
    """A PEM chain with bytes of one certificate's DER changed, re-armored (past the base64)."""
    ders = pem_certificates(pem)
    return st.integers(0, len(ders) - 1).flatmap(
        lambda i: byte_edit(ders[i]).map(lambda der: pem_with_der(pem, i, der))
    )


chains = sampled(CHAINS).flatmap(lambda s: byte_edit(s.data) | _der_edit(s.data))


@fuzz_settings(200)
@given(chains)
def test_fuzz_load_pem_chain_on_mutated_chains(data: bytes) -> None:
    _refused(load_pem_chain, data)


COLLATERAL_CHAINS = ("pck_crl_issuer_chain", "tcb_info_issuer_chain", "qe_identity_issuer_chain")


def _collateral_der_edit(source: Source) -> st.SearchStrategy[bytes]:
    """The collateral with bytes of one issuer certificate's DER changed."""
    document = parsed(source.data)

    def edited(key: str) -> st.SearchStrategy[bytes]:
        pem = document[key].encode()
        return _der_edit(pem).map(lambda new: dump({**document, key: new.decode()}))

    return st.sampled_from(COLLATERAL_CHAINS).flatmap(edited)


collaterals = sampled(COLLATERAL).flatmap(
    lambda s: (
        mutated_document(parsed(s.data)).map(dump)
        | byte_edit(s.data, end=4096)
        | _collateral_der_edit(s)
    )
)


@fuzz_settings(200)
@given(collaterals)
def test_fuzz_collateral_from_json_on_mutated_collateral(data: bytes) -> None:
    _refused(Collateral.from_json, data)


def _toml_edit(source: Source) -> st.SearchStrategy[bytes]:
    document = tomllib.loads(source.data.decode())

    def dumped(changed: Any) -> bytes:
        try:
            return tomlkit.dumps(changed).encode()
        except (TypeError, ValueError):  # a shape TOML cannot write: keep the source
            return source.data

    structural = json_edit_strategy(document, values=toml_values).map(dumped)
    return structural | byte_edit(source.data)


@fuzz_settings(200)
@given(sampled(POLICIES).flatmap(_toml_edit))
def test_fuzz_load_policy_on_mutated_policies(data: bytes) -> None:
    TALLY.tried += 1
    try:
        policy = load_policy(data, source="fuzz.toml")
    except InputError:
        TALLY.refused += 1
        return
    # a policy that loads validates a report without raising
    DEMO_REPORT.with_findings(list(policy.validate(DEMO_REPORT)))


# --- verify: never raises, never passes a changed input that matters ------------------------


@fuzz_settings(100)
@given(
    sampled(EVIDENCE).flatmap(
        lambda s: st.tuples(
            st.just(s),
            (mutated_document(parsed(s.data)) | mutated_events(parsed(s.data))).map(dump),
        )
    )
)
def test_fuzz_verify_mutated_evidence(source_and_data: tuple[Source, bytes]) -> None:
    source, data = source_and_data
    report = _verify(source.case_name, evidence=data)
    if report.passed:
        compose = CASES[source.case_name].compose
        assert same_evidence(source.data, data, compose), "a changed evidence passed"


def _with_quote(evidence: bytes, quote: bytes) -> bytes:
    document = json.loads(evidence)
    if "app_certificates" in document:
        document["app_certificates"][0]["quote"] = quote.hex()
    else:
        document["quote"] = quote.hex()
    return json.dumps(document).encode()


@fuzz_settings(100)
@given(sampled(QUOTES).flatmap(lambda s: st.tuples(st.just(s), byte_edit(s.data))))
def test_fuzz_verify_mutated_quote(source_and_quote: tuple[Source, bytes]) -> None:
    source, quote = source_and_quote
    report = _verify(source.name, evidence=_with_quote(CASES[source.name].evidence, quote))
    if report.passed:
        assert same_quote(source.data, quote), "a changed quote passed"


@fuzz_settings(100)
@given(sampled(CHAINS).flatmap(lambda s: st.tuples(st.just(s), chains)))
def test_fuzz_verify_mutated_chain(source_and_chain: tuple[Source, bytes]) -> None:
    source, chain = source_and_chain
    report = _verify(source.name, chain=chain)
    if report.passed:
        assert pem_ders(chain) == pem_ders(source.data), "a changed chain passed"


@fuzz_settings(100)
@given(sampled(COLLATERAL).flatmap(lambda s: st.tuples(st.just(s), collaterals)))
def test_fuzz_verify_mutated_collateral(source_and_data: tuple[Source, bytes]) -> None:
    source, data = source_and_data
    report = _verify(source.name, collateral=data)
    if report.passed:
        assert same_collateral(source.data, data), "a changed collateral passed"


@fuzz_settings(100)
@given(sampled(COMPOSES).flatmap(lambda s: st.tuples(st.just(s), byte_edit(s.data))))
def test_fuzz_verify_mutated_compose(source_and_compose: tuple[Source, bytes]) -> None:
    source, compose = source_and_compose
    assume(compose != source.data)
    # the compose hash covers the exact bytes: any change fails
    assert not _verify(source.name, compose=compose).passed


# --- the CLI: a malformed file is exit 2 and one line --------------------------------------

BROKEN: dict[str, tuple[Any, st.SearchStrategy[bytes]]] = {
    "evidence": (
        load_evidence,
        random_documents
        | sampled(EVIDENCE).flatmap(lambda s: mutated_document(parsed(s.data)).map(dump)),
    ),
    "--collateral": (Collateral.from_json, random_documents | collaterals),
    "--chain": (load_pem_chain, random_documents | chains),
    "--trust-root": (TrustRoot.from_der, st.binary(max_size=256)),
    "--policy": (
        lambda d: load_policy(d, source="p"),
        random_documents | sampled(POLICIES).flatmap(_toml_edit),
    ),
}


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("fuzz-cli")


@fuzz_settings(100)
@given(
    st.sampled_from(sorted(BROKEN)).flatmap(
        lambda which: st.tuples(st.just(which), BROKEN[which][1])
    )
)
def test_fuzz_cli_malformed_file_exits_2_with_one_line(
    workdir: Path, which_and_data: tuple[str, bytes]
) -> None:
    which, data = which_and_data
    parse, _ = BROKEN[which]
    try:
        parse(data)
        assume(False)  # well-formed: not this property's input
    except InputError:
        pass
    demo = CASES["demo"]
    broken = workdir / "broken"
    broken.write_bytes(data)
    args = ["verify", *demo.cli_args()]
    if which == "evidence":
        args[1] = str(broken)
    elif which == "--policy":
        args += ["--policy", str(broken)]
    else:
        args[args.index(which) + 1] = str(broken)
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(args)
    TALLY.tried += 1
    TALLY.refused += code == 2
    lines = err.getvalue().splitlines()
    assert code == 2, err.getvalue()
    assert len(lines) == 1 and lines[0].startswith("cvm-verifier: error: "), err.getvalue()
    assert "Traceback" not in err.getvalue() and out.getvalue() == ""
