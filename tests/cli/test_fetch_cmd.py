"""``cvm-verifier fetch`` and ``verify --cvm`` end to end, against the API and PCCS emulators.

fetch → bundle → ``verify BUNDLE --at fetched`` must equal verifying the corpus files directly;
fetch errors exit 3 with one line; the API key is in no output and no written file.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest

from tests.cli.runner import one_error_line
from tests.corpus import CASES, Case, case
from tests.fetch.emulators import API_KEY, PccsEmulator, PhalaCloudEmulator, Reply
from tests.shapes import app_attestations, app_instance, stopped_instance
from verifier.bundle import load_bundle
from verifier.cli import main
from verifier.collateral import Collateral
from verifier.evidence import load_evidence
from verifier.quote_verification import quote_fmspc

APP = case("app-uptodate")
APP_ID = "d722c43a6f4f42d53dc7bc97ba04a1cb17ce3a34"


class Run:
    """Runs the CLI in-process and keeps every output, to grep for the key at the end."""

    def __init__(self, capsys: pytest.CaptureFixture[str]) -> None:
        self.capsys = capsys
        self.outputs: list[str] = []

    def __call__(self, *argv: str) -> tuple[int, str, str]:
        code = main(list(argv))
        out, err = self.capsys.readouterr()
        self.outputs += [out, err]
        return code, out, err


@pytest.fixture
def run(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    phala: PhalaCloudEmulator,
    pccs: PccsEmulator,
    tmp_path: Path,
) -> Iterator[Run]:
    """The CLI configured through the environment, as users do; the clock at app-uptodate's
    verification time. At the end, no output and no file under tmp_path holds the key."""
    monkeypatch.setenv("PHALA_CLOUD_API_KEY", API_KEY)
    monkeypatch.setenv("PHALA_CLOUD_API_PREFIX", phala.prefix)
    monkeypatch.setenv("PCCS_URL", pccs.url)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg-cache"))  # the default cache dir
    set_clock(monkeypatch, APP.at)
    runner = Run(capsys)
    yield runner
    assert not any(API_KEY in text for text in runner.outputs)
    for path in tmp_path.rglob("*"):
        if path.is_file():
            assert API_KEY.encode() not in path.read_bytes(), path


def set_clock(monkeypatch: pytest.MonkeyPatch, moment: datetime) -> None:
    monkeypatch.setattr("verifier.cli.common.now", lambda: moment)


# --- fetch CVM_ID -----------------------------------------------------------------------------


#: cases whose collateral is the one a PCCS serves for their quote (not collateral-wrong-fmspc)
def _served_collateral(c: Case) -> bool:
    quote = load_evidence(c.evidence).quote
    return quote is not None and quote_fmspc(quote) == Collateral.from_json(c.collateral).fmspc


E2E = [c for c in CASES if _served_collateral(c)]


@pytest.mark.parametrize("c", E2E, ids=lambda c: c.name)
def test_fetch_then_verify_at_fetched_equals_verifying_the_files(
    c: Case,
    run: Run,
    phala: PhalaCloudEmulator,
    pccs: PccsEmulator,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    phala.cvms[c.name] = c.evidence
    pccs.serve(c.collateral)
    set_clock(monkeypatch, c.at)
    extra = []
    if c.chain is not None:
        extra += ["--chain", str(c.path / "chain.pem")]
    if c.compose is not None:
        extra += ["--compose", str(c.path / "app-compose.json")]
    bundle = tmp_path / "cvm.bundle.json"
    code, out, err = run("fetch", c.name, "-o", str(bundle), "--cache-dir", str(tmp_path), *extra)
    assert (code, out, err) == (0, "", f"cvm-verifier: wrote {bundle}\n")
    loaded = load_bundle(bundle.read_bytes())
    assert loaded.evidence_bytes == c.evidence
    assert (loaded.collateral_json or "").encode() == c.collateral
    assert loaded.fetched_at == c.at
    direct = run("verify", *c.cli_args(), "--format", "json")
    assert run("verify", str(bundle), "--at", "fetched", "--format", "json") == direct


def test_the_bundle_records_where_it_came_from(
    run: Run, phala: PhalaCloudEmulator, pccs: PccsEmulator
) -> None:
    code, out, _ = run("fetch", "app-uptodate", "--no-cache", "--api-version", "2025-10-28")
    assert code == 0
    source = json.loads(out)["source"]
    assert source == {
        "api_url": f"{phala.prefix}/cvms/app-uptodate/attestation",
        "api_version": "2025-10-28",
        "cvm_id": "app-uptodate",
        "app_id": None,
        "instance": None,
        "instance_id": None,
        "response_sha256": None,
        "request_id": "req-0001",
        "pccs_url": pccs.url,
    }


def test_no_collateral(run: Run, pccs: PccsEmulator, tmp_path: Path) -> None:
    bundle = tmp_path / "b.json"
    assert run("fetch", "app-uptodate", "--no-collateral", "-o", str(bundle))[0] == 0
    assert load_bundle(bundle.read_bytes()).collateral is None
    assert pccs.server.requests == []
    code, _, err = run("verify", str(bundle), "--at", "fetched")
    assert code == 2
    assert "--collateral FILE is required" in err
    code, _, _ = run(
        "verify", str(bundle), "--at", "fetched", "--collateral", str(APP.path / "collateral.json")
    )
    assert code == 0


def test_the_default_cache_is_the_user_cache_dir(run: Run, tmp_path: Path) -> None:
    assert run("fetch", "app-uptodate")[0] == 0
    [entry] = (tmp_path / "xdg-cache" / "cvm-verifier" / "collateral").iterdir()
    assert entry.read_bytes() == APP.collateral


def test_a_cached_collateral_needs_no_pccs(run: Run, pccs: PccsEmulator, tmp_path: Path) -> None:
    cache = str(tmp_path / "cache")
    assert run("fetch", "app-uptodate", "--cache-dir", cache)[0] == 0
    pccs.server.faults = [Reply(status=503)] * 20
    code, out, _ = run("fetch", "app-uptodate", "--cache-dir", cache)
    assert code == 0
    assert json.loads(out)["collateral"]["text"].encode() == APP.collateral


@pytest.mark.parametrize(
    ("cvm_id", "status"),
    [("missing", "HTTP 404"), ("bad:id", "HTTP 422"), ("theirs", "HTTP 403")],
)
def test_api_errors_exit_3_with_one_line(
    run: Run, phala: PhalaCloudEmulator, cvm_id: str, status: str
) -> None:
    phala.forbidden = frozenset({"theirs"})
    code, out, err = run("fetch", cvm_id)
    assert (code, out) == (3, "")
    assert status in one_error_line(err)


def test_a_bad_key_exits_3_without_showing_it(
    run: Run, phala: PhalaCloudEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The API echoes the key it rejects: it must still appear nowhere.
    phala.server.faults = [Reply.json({"message": f"API key {API_KEY} revoked"}, 401)]
    code, _, err = run("fetch", "app-uptodate")
    assert code == 3
    line = one_error_line(err)
    assert "HTTP 401" in line and "[redacted]" in line


def test_no_key_exits_3(run: Run, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PHALA_CLOUD_API_KEY")
    code, _, err = run("fetch", "app-uptodate")
    assert code == 3
    assert "set PHALA_CLOUD_API_KEY" in one_error_line(err)


def test_connection_refused_exits_3(run: Run) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    prefix = f"http://127.0.0.1:{port}/api/v1"
    code, _, err = run("fetch", "app-uptodate", "--api-prefix", prefix, "--retries", "0")
    assert code == 3
    assert "cannot connect" in one_error_line(err)


def test_a_slow_api_times_out_and_exits_3(run: Run, phala: PhalaCloudEmulator) -> None:
    phala.server.faults = [Reply(body=b"{}", delay=2.0)]
    code, _, err = run("fetch", "app-uptodate", "--timeout", "0.2")
    assert code == 3
    assert "timed out after 0.2 s" in one_error_line(err)


def test_a_pccs_failure_exits_3(run: Run, pccs: PccsEmulator) -> None:
    pccs.server.faults = [Reply(status=500)]
    code, _, err = run("fetch", "app-uptodate", "--no-cache")
    assert code == 3
    assert "PCK CRL: server error (HTTP 500)" in one_error_line(err)


def test_an_offline_cvm_exits_3_unless_no_collateral(run: Run, phala: PhalaCloudEmulator) -> None:
    phala.cvms["stopped"] = b'{"is_online": false, "error": "CVM is stopped"}'
    code, _, err = run("fetch", "stopped")
    assert code == 3
    assert "carries no quote (API error: CVM is stopped)" in one_error_line(err)
    code, out, _ = run("fetch", "stopped", "--no-collateral")
    assert code == 0
    assert json.loads(out)["attestation"]["text"] == phala.cvms["stopped"].decode()


@pytest.mark.parametrize(
    ("argv", "reason"),
    [
        ((), "exactly one"),
        (("app-uptodate", "--app", APP_ID), "exactly one"),
        (("../etc",), "CVM id"),
        (("--app", APP_ID), "-o DIR"),
        (("app-uptodate", "--timeout", "0"), "--timeout"),
        (("app-uptodate", "--retries", "many"), "--retries"),
        (("app-uptodate", "--api-prefix", "http://cloud.example/api/v1"), "plain HTTP"),
    ],
)
def test_usage_errors_exit_2(run: Run, argv: tuple[str, ...], reason: str) -> None:
    code, _, err = run("fetch", *argv)
    assert code == 2
    assert reason in one_error_line(err)


# --- fetch --app ------------------------------------------------------------------------------


def _serve_app(phala: PhalaCloudEmulator, instances: list[dict[str, object]]) -> bytes:
    body = json.dumps(app_attestations(APP_ID, instances), indent=1).encode()
    phala.apps[APP_ID] = body
    return body


def test_app_writes_one_bundle_per_running_instance(
    run: Run, phala: PhalaCloudEmulator, pccs: PccsEmulator, tmp_path: Path
) -> None:
    cases = [APP, case("quote-bitflip"), case("rtmr-claim-mismatch")]
    instances = [
        app_instance(cases[0]),
        stopped_instance(),
        app_instance(cases[1], style="tcb_info"),
    ]
    instances.append(app_instance(cases[2], style="eventlog-string"))
    body = _serve_app(phala, instances)
    out_dir = tmp_path / "fleet"
    code, out, err = run("fetch", "--app", APP_ID, "-o", str(out_dir), "--no-cache")
    assert (code, out) == (0, "")
    names = sorted(p.name for p in out_dir.iterdir())
    assert names == [
        f"{APP_ID}-0.bundle.json",
        f"{APP_ID}-2.bundle.json",
        f"{APP_ID}-3.bundle.json",
    ]
    assert "skipped instance 1: no quote" in err
    assert "\r" not in err  # no progress when stderr is not a terminal
    assert len(pccs.server.requests) == 4  # one platform family: fetched once
    expected = {0: "pass", 2: "fail", 3: "fail"}
    for index, verdict in expected.items():
        path = out_dir / f"{APP_ID}-{index}.bundle.json"
        bundle = load_bundle(path.read_bytes())
        # The part is the exact text of instances[index] within the response.
        assert bundle.evidence_bytes in body
        assert json.loads(bundle.evidence_bytes) == instances[index]
        assert bundle.source.instance == index
        assert bundle.source.app_id == APP_ID
        assert "x-api-key" not in phala.server.requests[0].headers
        code, report, _ = run("verify", str(path), "--at", "fetched", "--format", "json")
        assert json.loads(report)["verdict"] == verdict
        assert json.loads(report)["evidence"]["format"] == "phala-app-instance"


def test_app_progress_on_a_terminal(
    run: Run, phala: PhalaCloudEmulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _serve_app(phala, [app_instance(APP), app_instance(APP)])
    monkeypatch.setattr("sys.stderr.isatty", lambda: True)
    code, _, err = run("fetch", "--app", APP_ID, "-o", str(tmp_path / "d"), "--no-cache")
    assert code == 0
    assert "\rcvm-verifier: instance 0/2\rcvm-verifier: instance 1/2" in err
    assert "\rcvm-verifier: instance 2/2\n" in err


def test_app_collateral_errors_exit_3_but_keep_the_others(
    run: Run, phala: PhalaCloudEmulator, tmp_path: Path
) -> None:
    kms = case("kms-uptodate")  # FMSPC 90C06F: the PCCS has no collateral for it
    _serve_app(phala, [app_instance(kms), app_instance(APP)])
    out_dir = tmp_path / "fleet"
    code, _, err = run("fetch", "--app", APP_ID, "-o", str(out_dir), "--no-cache", "--retries", "0")
    assert code == 3
    assert [p.name for p in out_dir.iterdir()] == [f"{APP_ID}-1.bundle.json"]
    errors = [line for line in err.splitlines() if line.startswith("cvm-verifier: error:")]
    assert len(errors) == 1 and "instance 0" in errors[0] and "HTTP 404" in errors[0]


def test_an_app_without_running_instances_exits_3(
    run: Run, phala: PhalaCloudEmulator, tmp_path: Path
) -> None:
    _serve_app(phala, [stopped_instance()])
    code, _, err = run("fetch", "--app", APP_ID, "-o", str(tmp_path / "d"))
    assert code == 3
    assert "no running instance" in err


def test_an_unknown_app_exits_3(run: Run, tmp_path: Path) -> None:
    code, _, err = run("fetch", "--app", "ff" * 20, "-o", str(tmp_path / "d"))
    assert code == 3
    assert "HTTP 404" in one_error_line(err)


def test_a_malformed_app_response_exits_3(
    run: Run, phala: PhalaCloudEmulator, tmp_path: Path
) -> None:
    phala.apps[APP_ID] = b'{"app_id": "x", "instances": {"0": {}}}'
    code, _, err = run("fetch", "--app", APP_ID, "-o", str(tmp_path / "d"))
    assert code == 3
    assert "instances: not a JSON array" in one_error_line(err)


# --- verify --cvm -------------------------------------------------------------------------------


def test_verify_cvm_fetches_and_verifies_at_the_fetch_time(run: Run, tmp_path: Path) -> None:
    saved = tmp_path / "saved.json"
    code, out, _ = run(
        "verify",
        "--cvm",
        "app-uptodate",
        "--chain",
        str(APP.path / "chain.pem"),
        "--save",
        str(saved),
        "--format",
        "json",
        "--cache-dir",
        str(tmp_path / "c"),
    )
    assert code == 0
    direct = run("verify", *APP.cli_args(), "--format", "json")
    assert out == direct[1]
    assert run("verify", str(saved), "--at", "fetched", "--format", "json")[1] == out


def test_verify_cvm_with_a_policy(run: Run, tmp_path: Path) -> None:
    policy = tmp_path / "p.toml"
    policy.write_text('version = 1\n[app]\napp_id = "' + "00" * 20 + '"\n')
    code, out, _ = run("verify", "--cvm", "app-uptodate", "--policy", str(policy), "--no-cache")
    assert code == 1
    assert any(line.startswith("✘ policy.app") for line in out.splitlines())


def test_verify_cvm_fetch_errors_exit_3(run: Run) -> None:
    code, out, err = run("verify", "--cvm", "missing")
    assert (code, out) == (3, "")
    assert "HTTP 404" in one_error_line(err)


def test_verify_cvm_with_a_given_collateral_skips_the_pccs(
    run: Run, pccs: PccsEmulator, tmp_path: Path
) -> None:
    saved = tmp_path / "s.json"
    collateral = str(APP.path / "collateral.json")
    code, _, _ = run(
        "verify", "--cvm", "app-uptodate", "--collateral", collateral, "--save", str(saved)
    )
    assert code == 0
    assert pccs.server.requests == []
    assert (load_bundle(saved.read_bytes()).collateral_json or "").encode() == APP.collateral


@pytest.mark.parametrize(
    ("argv", "reason"),
    [
        (("--cvm", "app-uptodate", str(APP.evidence_path)), "not both"),
        ((), "give EVIDENCE"),
        ((str(APP.evidence_path), "--save", "x.json"), "--save"),
    ],
)
def test_verify_cvm_usage_errors(run: Run, argv: tuple[str, ...], reason: str) -> None:
    code, _, err = run("verify", *argv)
    assert code == 2
    assert reason in one_error_line(err)


def test_unusable_files_are_refused_before_fetching(
    run: Run, phala: PhalaCloudEmulator, tmp_path: Path
) -> None:
    bad = tmp_path / "bad.pem"
    bad.write_text("not a chain")
    code, _, err = run("fetch", "app-uptodate", "--chain", str(bad))
    assert code == 2
    assert str(bad) in one_error_line(err)
    saved = tmp_path / "saved.json"
    code, _, err = run(
        "verify", "--cvm", "app-uptodate", "--collateral", str(bad), "--save", str(saved)
    )
    assert code == 2
    assert str(bad) in one_error_line(err)
    assert not saved.exists()
    assert phala.server.requests == []
