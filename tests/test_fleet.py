"""``verifier.fleet``: discovery, item loading, the worker, the ordered bounded parallel map, the
summary; and the pieces it added to the library (compact report JSON, unusable-input reports,
streamed atomic files)."""

from __future__ import annotations

import hashlib
import json
import os
import pickle
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.corpus import FORGED, FORGED_DIR, Case, case, forged
from verifier import (
    Collateral,
    InputError,
    Status,
    TrustRoot,
    Verdict,
    VerifierError,
    load_policy,
    verify,
)
from verifier.bundle import make_bundle
from verifier.fleet import (
    COLLATERAL_CACHE,
    SUMMARY_EXAMPLES,
    FleetOptions,
    FleetSummary,
    Item,
    ItemKind,
    ItemResult,
    Worker,
    discover,
    verify_items,
)
from verifier.verification import unusable_input_report

APP = case("app-uptodate")
DEMO = forged("demo")
ROOT = TrustRoot.from_der((FORGED_DIR / "demo" / "trust-root.der").read_bytes())
FORGED_OPTIONS = FleetOptions(at=DEMO.at, trust_root=ROOT)


def _single(c: Case, *, trust_root: TrustRoot | None = ROOT) -> str:
    return verify(
        c.evidence,
        collateral=c.collateral,
        at=c.at,
        chain_pem=c.chain,
        compose=c.compose,
        trust_root=trust_root,
    ).to_json()


def _failed(result: ItemResult) -> dict[str, str]:
    return {f.id: f.reason for f in result.report().findings if f.status is Status.FAIL}


# --- discovery -------------------------------------------------------------------------------


def test_discovery_walks_the_forged_fixtures_in_sorted_order() -> None:
    items = list(discover([FORGED_DIR]))
    # README.md is not JSON; each case folder is one item; "cases" sorts before "demo".
    expected = [*sorted(str(c.path) for c in FORGED if c.name != "demo"), str(DEMO.path)]
    assert [i.path for i in items] == expected
    assert {i.kind for i in items} == {ItemKind.CASE}


def test_discovery_keeps_the_order_of_the_paths_given() -> None:
    paths = [str(forged("debug-td").path), str(DEMO.path), str(forged("debug-td").path)]
    assert [i.path for i in discover(paths)] == paths


def test_discovery_rules(tmp_path: Path) -> None:
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "z.json").write_text("{}")
    (tmp_path / "b" / "notes.txt").write_text("not evidence")
    (tmp_path / "a.json").write_text("{}")
    (tmp_path / ".hidden.json").write_text("{}")
    (tmp_path / ".git").mkdir()
    (tmp_path / ".git" / "x.json").write_text("{}")
    (tmp_path / "collateral.json").write_bytes(DEMO.collateral)  # the default collateral
    case_dir = tmp_path / "c-case"
    case_dir.mkdir()
    for name in ("attestation.json", "collateral.json", "expected.json"):
        (case_dir / name).write_text("{}")
    (tmp_path / "linked").symlink_to(tmp_path / "b", target_is_directory=True)
    items = list(discover([tmp_path], exclude=[tmp_path / "collateral.json"]))
    assert [(Path(i.path).relative_to(tmp_path).as_posix(), i.kind) for i in items] == [
        ("a.json", ItemKind.FILE),
        ("b/z.json", ItemKind.FILE),
        ("c-case", ItemKind.CASE),  # one item: its expected.json is never read
    ]
    # A file named explicitly is an item whatever its name.
    assert [i.path for i in discover([tmp_path / "b" / "notes.txt"])] == [
        str(tmp_path / "b" / "notes.txt")
    ]


def test_discovery_refuses_a_missing_path_before_yielding(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no such file"):
        discover([DEMO.path, tmp_path / "missing"])


def test_discovery_is_lazy(tmp_path: Path) -> None:
    first, second = tmp_path / "1", tmp_path / "2"
    first.mkdir()
    second.mkdir()
    (first / "a.json").write_text("{}")
    items = discover([first, second])
    assert Path(next(items).path).name == "a.json"
    (second / "b.json").write_text("{}")  # listed only when the walk gets there
    assert [Path(i.path).name for i in items] == ["b.json"]


# --- one item --------------------------------------------------------------------------------


def test_a_case_directory_gives_the_single_verify_report() -> None:
    result = Worker(FORGED_OPTIONS).run(Item(str(DEMO.path), ItemKind.CASE))
    assert result.passed
    assert result.report().to_json() == _single(DEMO)


def test_a_trust_root_in_the_item_directory_is_never_used() -> None:
    # Every forged folder carries trust-root.der; without --trust-root its quote must fail.
    options = FleetOptions(at=DEMO.at)
    result = Worker(options).run(Item(str(DEMO.path), ItemKind.CASE))
    report = result.report()
    assert report.verdict is Verdict.FAIL
    assert report.quote.trust_root.intel
    assert "quote_signature" in result.failed
    assert report.to_json() == _single(DEMO, trust_root=None)


def test_a_plain_evidence_file_uses_the_default_collateral() -> None:
    options = FleetOptions(at=DEMO.at, trust_root=ROOT, collateral=DEMO.collateral)
    result = Worker(options).run(Item(str(DEMO.evidence_path), ItemKind.FILE))
    expected = verify(DEMO.evidence, collateral=DEMO.collateral, at=DEMO.at, trust_root=ROOT)
    assert result.report_json == expected.to_json_line()


def test_a_plain_evidence_file_without_collateral_fails_collateral_parse() -> None:
    result = Worker(FORGED_OPTIONS).run(Item(str(DEMO.evidence_path), ItemKind.FILE))
    assert result.failed == ("collateral_parse",)
    assert "--collateral" in _failed(result)["collateral_parse"]
    report = result.report()
    assert report.evidence.sha256 == hashlib.sha256(DEMO.evidence).hexdigest()
    assert report.policy.name == "baseline"
    assert report.finding("policy") is not None  # the policy still judged it


def test_an_unreadable_item_is_a_failing_report(tmp_path: Path) -> None:
    result = Worker(FORGED_OPTIONS).run(Item(str(tmp_path / "gone.json"), ItemKind.FILE))
    assert result.failed == ("evidence_parse",)
    assert "cannot read evidence" in _failed(result)["evidence_parse"]
    unlisted = Item(str(tmp_path), ItemKind.UNLISTABLE, "cannot list the directory: denied")
    result = Worker(FORGED_OPTIONS).run(unlisted)
    assert _failed(result) == {"evidence_parse": "cannot list the directory: denied"}


def test_malformed_evidence_in_a_case_is_the_library_evidence_parse(tmp_path: Path) -> None:
    (tmp_path / "getquote.json").write_text('{"quote": 42}')
    (tmp_path / "collateral.json").write_bytes(DEMO.collateral)
    result = Worker(FORGED_OPTIONS).run(Item(str(tmp_path), ItemKind.CASE))
    expected = verify(b'{"quote": 42}', collateral=DEMO.collateral, at=DEMO.at, trust_root=ROOT)
    assert result.report_json == expected.to_json_line()
    assert result.failed == ("evidence_parse",)


def test_malformed_collateral_in_a_case_is_collateral_parse(tmp_path: Path) -> None:
    (tmp_path / "attestation.json").write_bytes(DEMO.evidence)
    (tmp_path / "collateral.json").write_text("[]")
    result = Worker(FORGED_OPTIONS).run(Item(str(tmp_path), ItemKind.CASE))
    assert "collateral_parse" in result.failed
    expected = verify(DEMO.evidence, collateral=b"[]", at=DEMO.at, trust_root=ROOT)
    assert result.report_json == expected.to_json_line()


def test_a_case_with_both_evidence_files_is_refused(tmp_path: Path) -> None:
    for name in ("attestation.json", "getquote.json"):
        (tmp_path / name).write_bytes(DEMO.evidence)
    (tmp_path / "collateral.json").write_bytes(DEMO.collateral)
    result = Worker(FORGED_OPTIONS).run(Item(str(tmp_path), ItemKind.CASE))
    assert result.failed == ("evidence_parse",)
    assert "exactly one of" in _failed(result)["evidence_parse"]


def test_an_unreadable_chain_fails_closed_instead_of_being_skipped(tmp_path: Path) -> None:
    for name in ("attestation.json", "collateral.json"):
        (tmp_path / name).write_bytes((DEMO.path / name).read_bytes())
    (tmp_path / "chain.pem").symlink_to(tmp_path / "nowhere.pem")
    result = Worker(FORGED_OPTIONS).run(Item(str(tmp_path), ItemKind.CASE))
    assert result.failed == ("evidence_parse",)
    assert "cannot read chain.pem" in _failed(result)["evidence_parse"]


def _demo_bundle(tmp_path: Path) -> Path:
    bundle = make_bundle(
        DEMO.evidence,
        fetched_at=DEMO.at,
        collateral=DEMO.collateral,
        chain=DEMO.chain,
        compose=DEMO.compose,
    )
    path = tmp_path / "demo.bundle.json"
    path.write_text(bundle.to_json())
    return path


def test_a_bundle_is_verified_with_its_own_parts_at_its_fetch_time(tmp_path: Path) -> None:
    path = _demo_bundle(tmp_path)
    later = datetime(2031, 1, 1, tzinfo=UTC)  # the demo collateral has long expired by then
    options = FleetOptions(at=later, trust_root=ROOT, at_fetched=True)
    result = Worker(options).run(Item(str(path), ItemKind.FILE))
    assert result.passed, result.failed
    assert result.report().to_json() == _single(DEMO)
    # Without --at fetched the fleet's time applies to a bundle like to any item.
    stale = Worker(FleetOptions(at=later, trust_root=ROOT)).run(Item(str(path), ItemKind.FILE))
    assert "collateral_expired" in stale.failed


def test_a_bundle_never_brings_its_own_trust_root(tmp_path: Path) -> None:
    path = _demo_bundle(tmp_path)
    result = Worker(FleetOptions(at=DEMO.at)).run(Item(str(path), ItemKind.FILE))
    assert "quote_signature" in result.failed  # forged evidence under Intel's root


def test_an_altered_bundle_is_a_failing_item(tmp_path: Path) -> None:
    path = _demo_bundle(tmp_path)
    document = json.loads(path.read_text())
    document["compose"]["text"] += "\n"  # the digest no longer matches
    path.write_text(json.dumps(document))
    result = Worker(FORGED_OPTIONS).run(Item(str(path), ItemKind.FILE))
    assert result.failed == ("evidence_parse",)
    assert "compose.sha256" in _failed(result)["evidence_parse"]


def test_at_fetched_fails_an_item_that_is_not_a_bundle() -> None:
    options = FleetOptions(at=DEMO.at, trust_root=ROOT, at_fetched=True)
    result = Worker(options).run(Item(str(DEMO.path), ItemKind.CASE))
    assert result.failed == ("evidence_parse",)
    assert "not a bundle" in _failed(result)["evidence_parse"]


def test_the_collateral_is_parsed_once_per_worker(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[int] = []
    real = Collateral.from_json

    def counting(data: bytes | str) -> Collateral:
        calls.append(1)
        return real(data)

    monkeypatch.setattr(Collateral, "from_json", staticmethod(counting))
    worker = Worker(FleetOptions(at=DEMO.at, trust_root=ROOT, collateral=DEMO.collateral))
    for _ in range(3):
        assert worker.run(Item(str(DEMO.path), ItemKind.CASE)).passed
        assert worker.run(Item(str(DEMO.evidence_path), ItemKind.FILE)).passed
    assert len(calls) == 1  # the same collateral bytes: the case's and the default
    assert COLLATERAL_CACHE >= 1


# --- the parallel map ------------------------------------------------------------------------


def _fleet_items() -> list[Item]:
    return [Item(str(c.path), ItemKind.CASE) for c in FORGED] + [
        Item(str(FORGED_DIR / "missing.json"), ItemKind.FILE)
    ]


def test_two_processes_give_the_results_of_one_in_the_same_order() -> None:
    items = _fleet_items()
    serial = list(verify_items(items, FORGED_OPTIONS, jobs=1))
    parallel = list(verify_items(items, FORGED_OPTIONS, jobs=2, chunk=2))
    assert parallel == serial
    assert [r.path for r in parallel] == [i.path for i in items]
    for result, c in zip(serial, FORGED, strict=False):
        assert result.report().to_json() == _single(c)


def test_items_are_pulled_lazily_within_a_bounded_window() -> None:
    # Memory stays flat: the map never holds more than window * chunk items ahead of its output.
    items = [Item(str(DEMO.path), ItemKind.CASE)] * 40
    pulled = 0

    def source() -> Iterator[Item]:
        nonlocal pulled
        for item in items:
            pulled += 1
            yield item

    results = verify_items(source(), FORGED_OPTIONS, jobs=2, chunk=2, window=3)
    for done, result in enumerate(results, start=1):
        assert result.passed
        assert pulled - done <= 3 * 2
    assert pulled == 40


def test_a_consumer_that_stops_early_stops_the_pool() -> None:
    results = verify_items([Item(str(DEMO.path), ItemKind.CASE)] * 20, FORGED_OPTIONS, jobs=2)
    assert next(results).passed
    results.close()  # shuts the pool down; would hang or leak workers otherwise


def test_options_must_pickle_to_reach_workers() -> None:
    class Local:
        name = "local"
        sha256 = None

        def validate(self, report: object) -> list[object]:
            return []

    options = FleetOptions(at=DEMO.at, policy=Local())  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="pickle"):
        next(verify_items([Item(str(DEMO.path), ItemKind.CASE)], options, jobs=2))


def test_a_policy_file_reaches_the_workers_intact() -> None:
    text = b'version = 1\nname = "pinned"\n[app]\ncompose_hash = "' + b"00" * 32 + b'"\n'
    policy = load_policy(text, source="p.toml")
    assert pickle.loads(pickle.dumps(policy)) == policy
    options = FleetOptions(at=DEMO.at, trust_root=ROOT, policy=policy)
    (result,) = verify_items([Item(str(DEMO.path), ItemKind.CASE)], options, jobs=2)
    report = result.report()
    assert report.policy.name == "pinned"
    assert report.policy.sha256 == hashlib.sha256(text).hexdigest()
    assert "policy.app" in result.failed


class DyingPolicy:
    """A policy whose worker process dies while validating (a crash in native code, say)."""

    name = "dies"
    sha256 = None

    def validate(self, report: object) -> list[object]:
        os._exit(3)


def test_a_worker_that_dies_stops_the_fleet_with_an_error_not_a_pass() -> None:
    options = FleetOptions(at=DEMO.at, trust_root=ROOT, policy=DyingPolicy())  # type: ignore[arg-type]
    with pytest.raises(VerifierError, match="worker process died"):
        list(verify_items([Item(str(DEMO.path), ItemKind.CASE)] * 4, options, jobs=2))


@pytest.mark.parametrize(("jobs", "chunk"), [(0, 1), (1, 0)])
def test_bad_jobs_or_chunk_is_misuse(jobs: int, chunk: int) -> None:
    with pytest.raises(ValueError, match="at least 1"):
        next(verify_items([], FORGED_OPTIONS, jobs=jobs, chunk=chunk))


# --- results and the summary -----------------------------------------------------------------


def test_the_jsonl_line_names_the_item_and_carries_the_canonical_report() -> None:
    result = Worker(FORGED_OPTIONS).run(Item(str(DEMO.path), ItemKind.CASE))
    line = result.to_json_line()
    assert "\n" not in line and line.isascii()
    document = json.loads(line)
    assert list(document) == ["path", "report"]
    assert document["path"] == str(DEMO.path)
    # Re-indenting the line's report gives the canonical bytes of Report.to_json.
    canonical = json.dumps(document["report"], indent=2, ensure_ascii=False) + "\n"
    assert canonical == _single(DEMO)


def test_report_json_line_is_to_json_on_one_ascii_line() -> None:
    report = verify(APP.evidence, collateral=APP.collateral, at=APP.at, chain_pem=APP.chain)
    line = report.to_json_line()
    assert "\n" not in line and line.isascii()
    assert json.loads(line) == json.loads(report.to_json())
    assert report.to_json().endswith("}\n")  # to_json's canonical form is untouched


def _result(path: str, failed: tuple[str, ...]) -> ItemResult:
    verdict = Verdict.FAIL if failed else Verdict.PASS
    return ItemResult(path, verdict, failed, 0, "{}")


def test_summary_counts_and_groups_failures_by_finding_id() -> None:
    summary = FleetSummary(policy="baseline", verified_at="2026-01-01T00:00:00Z")
    summary.add(_result("a", ()))
    for n in range(SUMMARY_EXAMPLES + 2):
        summary.add(_result(f"sig{n}", ("quote_signature",)))
    summary.add(_result("both", ("td_debug", "quote_signature")))
    summary.add(_result("debug", ("td_debug",)))
    assert (summary.total, summary.passed, summary.failed) == (10, 1, 9)
    groups = summary.by_finding()
    assert [(fid, count) for fid, count, _ in groups] == [("quote_signature", 8), ("td_debug", 2)]
    assert groups[0][2] == [f"sig{n}" for n in range(SUMMARY_EXAMPLES)]  # bounded examples
    text = summary.render_text()
    assert text.splitlines()[0] == (
        "summary: FAIL 10 items: 1 passed, 9 failed (policy baseline; at 2026-01-01T00:00:00Z)"
    )
    assert "… 3 more" in text
    markdown = summary.render_markdown()
    assert markdown.startswith("### cvm-verifier verify-many: FAIL\n")
    assert "| `quote_signature` | 8 |" in markdown
    assert "| `td_debug` | 2 | `both`, `debug` |" in markdown


def test_summary_of_a_passing_fleet() -> None:
    summary = FleetSummary(policy="p", verified_at="t")
    summary.add(_result("a", ()))
    assert summary.render_text() == "summary: PASS 1 item: 1 passed, 0 failed (policy p; at t)\n"
    assert "|" not in summary.render_markdown()


# --- library additions -----------------------------------------------------------------------


def test_unusable_input_report_fails_with_the_one_finding_and_the_policy() -> None:
    report = unusable_input_report(
        "evidence_parse", "cannot read x", at=DEMO.at, evidence_sha256="00" * 32
    )
    assert report.verdict is Verdict.FAIL
    assert [(f.id, f.status) for f in report.findings] == [
        ("evidence_parse", Status.FAIL),
        ("policy", Status.WARN),
    ]
    assert report.verified_at == "2026-01-01T00:00:00Z"
    with pytest.raises(ValueError, match="input finding"):
        unusable_input_report("td_debug", "no", at=DEMO.at, evidence_sha256="00")
    with pytest.raises(ValueError, match="timezone-aware"):
        unusable_input_report("evidence_parse", "x", at=datetime(2026, 1, 1), evidence_sha256="00")
    assert datetime(2026, 1, 1, tzinfo=UTC) == DEMO.at
