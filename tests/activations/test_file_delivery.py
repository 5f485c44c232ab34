"""Export files delivered where marketers work (activations/exports/deliver.py): by email with the
files attached through the SendGrid client (against the fake SendGrid, attachments compared byte
for byte) and by SFTP to a real OpenSSH server started on a loopback port (slow suite). Recorded
in the manifest (where, when, checksum), retried, and never delivered twice."""

from __future__ import annotations

import base64
import hashlib
import json
import threading
from pathlib import Path

import duckdb
import pytest

from activations.exports.deliver import FILE_DELIVERIES, deliver_exports
from activations.exports.files import write_exports
from activations.plan.spec import PlanError, parse_plan
from tests.activations.delivery_helpers import SG_KEY, live_config
from tests.activations.plan_fixture import daily_plan_text
from tests.activations.test_exports import SEND, _prepared
from tests.fakes.providers import FakeSendGrid

TEAM = ["marketing@shop.example", "vip-desk@shop.example"]
KEY_ENV = "CRM_TEST_SFTP_KEY"


def plan_with_deliveries(sftp: str | None = None, names: str = "[marketing_team]"):
    """The daily plan with `file_deliveries` (the team's email list, and an SFTP server when
    given, besides the shipped plan's vip_desk) and vip_party delivering its files to `names`."""
    block = "file_deliveries:\n" + f"  marketing_team:\n    email: {{to: [{', '.join(TEAM)}]}}\n"
    if sftp:
        block += f"  marketing_sftp:\n    sftp: {sftp}\n"
    text = daily_plan_text()
    shipped = "\nfile_deliveries:\n  vip_desk:"  # the shipped plan's one destination, replaced here
    assert shipped in text and "    deliver_files: [vip_desk]\n" in text
    text = text.replace("\nfile_deliveries:\n", "\n" + block, 1)
    text = text.replace("    deliver_files: [vip_desk]\n", f"    deliver_files: {names}\n", 1)
    return parse_plan(text, "plan-with-deliveries.yml")


@pytest.fixture
def exported(tmp_path):
    prepared = _prepared(tmp_path)
    out = tmp_path / "exports"
    return out, write_exports(prepared, out)


@pytest.fixture
def sendgrid():
    with FakeSendGrid(api_key=SG_KEY) as fake:
        yield fake


def _manifest(out: Path, campaign: str = "vip_party") -> dict:
    return json.loads((out / SEND.isoformat() / campaign / "manifest.json").read_text(encoding="utf-8"))


def _ledger(home: Path) -> list[tuple]:
    con = duckdb.connect(str(home / "warehouse.duckdb"), read_only=True)
    try:
        return con.execute(
            f"select campaign_id, destination, kind, status, attempts from {FILE_DELIVERIES} order by all"
        ).fetchall()
    finally:
        con.close()


def _local_files(out: Path, campaign: str = "vip_party") -> dict[str, bytes]:
    folder = out / SEND.isoformat() / campaign
    return {p.name: p.read_bytes() for p in folder.iterdir() if p.suffix in (".xlsx", ".csv")}


# ---------------------------------------------------------------------------------------------- email


def test_email_delivery_attaches_the_files_byte_for_byte_and_records_them(tmp_path, exported, sendgrid):
    out, manifests = exported
    cfg = live_config(tmp_path, sendgrid=sendgrid)
    done = deliver_exports(manifests, plan_with_deliveries(), out, cfg, SEND)
    assert list(done) == ["vip_party"]  # only the campaign that names a destination
    assert len(sendgrid.requests_bodies) == 1
    body = sendgrid.requests_bodies[0]
    assert [p["to"] for p in body["personalizations"]] == [[{"email": a}] for a in TEAM]
    assert body["from"]["email"] == "crm@crmloop-store.example"  # the plan's sender
    got = {a["filename"]: base64.b64decode(a["content"]) for a in body["attachments"]}
    local = _local_files(out)
    assert set(got) == {"vip_party.xlsx", "direct_mail_list.csv", "phone_call_list.csv"} == set(local)
    for name, data in local.items():
        assert got[name] == data, name  # byte for byte
    types = {a["filename"]: a["type"] for a in body["attachments"]}
    assert types["vip_party.xlsx"] == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    assert types["phone_call_list.csv"] == "text/csv"
    assert {a["disposition"] for a in body["attachments"]} == {"attachment"}
    assert sendgrid.stats["accepted_requests"] == 1

    manifest = _manifest(out)
    (d,) = manifest["deliveries"]
    assert (d["destination"], d["kind"], d["status"], d["attempts"]) == (
        "marketing_team",
        "email",
        "delivered",
        1,
    )
    assert d["where"] == ", ".join(TEAM)
    assert d["delivered_at"].endswith("Z") and d["provider_id"]
    assert {f["name"]: f["sha256"] for f in d["files"]} == {
        n: hashlib.sha256(b).hexdigest() for n, b in local.items()
    }
    # the files the manifest lists are the ones it attached
    assert {f["name"]: f["sha256"] for f in manifest["files"]} == {f["name"]: f["sha256"] for f in d["files"]}
    assert _ledger(tmp_path) == [("vip_party", "marketing_team", "email", "delivered", 1)]


def test_a_rerun_never_emails_the_files_again(tmp_path, exported, sendgrid):
    out, manifests = exported
    cfg = live_config(tmp_path, sendgrid=sendgrid)
    plan = plan_with_deliveries()
    first = deliver_exports(manifests, plan, out, cfg, SEND)["vip_party"][0]
    # the rerun of the same send date writes its files again (new bytes: new timestamps) ...
    (tmp_path / "rerun").mkdir()
    prepared = _prepared(tmp_path / "rerun")
    manifests = write_exports(prepared, out)
    again = deliver_exports(manifests, plan, out, cfg, SEND)["vip_party"][0]
    # ... and sends nothing: the ledger says it was delivered, and when
    assert len(sendgrid.requests_bodies) == 1
    assert again["status"] == "delivered" and again["delivered_at"] == first["delivered_at"]
    assert "not sent again" in again["note"]
    assert _manifest(out)["deliveries"][0]["note"] == again["note"]


def test_email_delivery_is_retried_through_a_rate_limit_storm(tmp_path, exported, sendgrid):
    out, manifests = exported
    sendgrid.storm(2, retry_after=0.05)
    cfg = live_config(tmp_path, sendgrid=sendgrid)
    (d,) = deliver_exports(manifests, plan_with_deliveries(), out, cfg, SEND)["vip_party"]
    assert (d["status"], d["attempts"]) == ("delivered", 3)
    assert len(sendgrid.requests_bodies) == 1 and sendgrid.stats["accepted_requests"] == 1


def test_an_email_whose_answer_was_lost_is_never_sent_again(tmp_path, exported):
    out, manifests = exported
    with FakeSendGrid(api_key=SG_KEY, drop_rate=1.0, drop_after_processing=True) as sg:
        cfg = live_config(tmp_path, sendgrid=sg)
        (d,) = deliver_exports(manifests, plan_with_deliveries(), out, cfg, SEND)["vip_party"]
        assert d["status"] == "ambiguous"
        assert sg.stats["accepted_requests"] == 1  # it did arrive: the answer was lost
        sg.drop_rate = 0.0
        (again,) = deliver_exports(manifests, plan_with_deliveries(), out, cfg, SEND)["vip_party"]
        assert again["status"] == "ambiguous" and again["note"] == "not sent again"
        assert sg.stats["accepted_requests"] == 1
    assert _ledger(tmp_path) == [("vip_party", "marketing_team", "email", "ambiguous", 1)]


def test_a_refused_email_is_failed_and_tried_again_by_the_next_run(tmp_path, exported):
    out, manifests = exported
    with FakeSendGrid(api_key="SG.another-key") as sg:  # 401: our key is refused, nothing accepted
        cfg = live_config(tmp_path, sendgrid=sg)
        (d,) = deliver_exports(manifests, plan_with_deliveries(), out, cfg, SEND)["vip_party"]
        assert (d["status"], d["reason"]) == ("failed", "http_401")
    with FakeSendGrid(api_key=SG_KEY) as sg:
        cfg = live_config(tmp_path, sendgrid=sg)
        (d,) = deliver_exports(manifests, plan_with_deliveries(), out, cfg, SEND)["vip_party"]
        assert d["status"] == "delivered" and len(sg.requests_bodies) == 1


def test_sandbox_writes_the_request_it_would_send_to_the_outbox(tmp_path, exported):
    from crmloop.settings import DeliveryConfig

    out, manifests = exported
    cfg = DeliveryConfig.from_env(home=tmp_path, env={"CRM_ACTIVATION_MODE": "sandbox"})
    (d,) = deliver_exports(manifests, plan_with_deliveries(), out, cfg, SEND)["vip_party"]
    path = tmp_path / "outbox" / "files" / SEND.isoformat() / "marketing_team" / "vip_party.sendgrid.json"
    assert d["where"] == f"sandbox: {path}"
    body = json.loads(path.read_text(encoding="utf-8"))
    got = {a["filename"]: base64.b64decode(a["content"]) for a in body["attachments"]}
    assert got == _local_files(out)


def test_the_plan_names_known_destinations_and_keeps_secrets_out():
    with pytest.raises(PlanError, match="unknown file_deliveries"):
        plan_with_deliveries(names="[nowhere]")
    sftp = "{host: h, username: u, host_key: 'ssh-ed25519 AAAA', password: hunter2}"
    with pytest.raises(PlanError, match="password"):  # a secret in the plan is refused (extra key)
        plan_with_deliveries(sftp=sftp, names="[marketing_sftp]")
    no_cred = "{host: h, username: u, host_key: 'ssh-ed25519 AAAA'}"
    with pytest.raises(PlanError, match="password_env or private_key_env"):
        plan_with_deliveries(sftp=no_cred, names="[marketing_sftp]")
    not_a_name = "{host: h, username: u, host_key: 'ssh-ed25519 AAAA', password_env: 'hunter2!'}"
    with pytest.raises(PlanError, match="not an environment variable name"):
        plan_with_deliveries(sftp=not_a_name, names="[marketing_sftp]")
    # where files go is not what a customer receives: no new approval needed
    from activations.plan.spec import load_plan
    from tests.activations.plan_fixture import DAILY_PLAN_PATH

    assert (
        plan_with_deliveries().campaign("vip_party").content_hash()
        == load_plan(DAILY_PLAN_PATH).campaign("vip_party").content_hash()
    )


# ----------------------------------------------------------------------------------------------- SFTP


def _sftp_spec(srv, *, port: int | None = None, host_key: str | None = None) -> str:
    return (
        f"{{host: 127.0.0.1, port: {port or srv.port}, username: {srv.user}, folder: '{srv.root}/incoming',"
        f" host_key: '{host_key or srv.host_key}', private_key_env: {KEY_ENV}}}"
    )


@pytest.mark.slow
@pytest.mark.sshd
def test_sftp_delivery_to_a_real_openssh_server(tmp_path, exported):
    from tests.fakes.sshd import OpenSshServer

    out, manifests = exported
    cfg = live_config(tmp_path)
    with OpenSshServer(tmp_path / "sshd") as srv:
        env = {KEY_ENV: srv.client_key}
        plan = plan_with_deliveries(sftp=_sftp_spec(srv), names="[marketing_sftp]")
        (d,) = deliver_exports(manifests, plan, out, cfg, SEND, env=env)["vip_party"]
        remote = srv.root / "incoming" / SEND.isoformat() / "vip_party"
        local = _local_files(out)
        assert sorted(p.name for p in remote.iterdir()) == sorted(local)  # no .part left behind
        for name, data in local.items():
            assert (remote / name).read_bytes() == data, name
        assert (d["kind"], d["status"], d["attempts"]) == ("sftp", "delivered", 1)
        assert d["where"] == f"sftp://{srv.user}@127.0.0.1:{srv.port}/{str(remote).lstrip('/')}"
        for f in d["files"]:  # the checksum read back from the server is the file's
            assert f["sha256"] == f["sha256_remote"] == hashlib.sha256(local[f["name"]]).hexdigest()
        assert _manifest(out)["deliveries"] == [d]

        # a rerun of the send date uploads nothing again
        for p in remote.iterdir():
            p.unlink()
        (again,) = deliver_exports(manifests, plan, out, cfg, SEND, env=env)["vip_party"]
        assert again["status"] == "delivered" and "not sent again" in again["note"]
        assert list(remote.iterdir()) == []
    assert _ledger(tmp_path) == [("vip_party", "marketing_sftp", "sftp", "delivered", 1)]


@pytest.mark.slow
@pytest.mark.sshd
def test_sftp_refuses_a_server_with_another_host_key_then_delivers_when_it_is_right(tmp_path, exported):
    from tests.fakes.sshd import OpenSshServer

    out, manifests = exported
    cfg = live_config(tmp_path)
    with OpenSshServer(tmp_path / "sshd") as srv:
        env = {KEY_ENV: srv.client_key}
        wrong = OpenSshServer(tmp_path / "other").prepare().host_key  # a valid key, not this server's
        plan = plan_with_deliveries(sftp=_sftp_spec(srv, host_key=wrong), names="[marketing_sftp]")
        (d,) = deliver_exports(manifests, plan, out, cfg, SEND, env=env)["vip_party"]
        assert d["status"] == "failed" and "host key" in d["reason"] and d["attempts"] == 1
        assert not (srv.root / "incoming").exists()  # nothing was sent
        plan = plan_with_deliveries(sftp=_sftp_spec(srv), names="[marketing_sftp]")
        (d,) = deliver_exports(manifests, plan, out, cfg, SEND, env=env)["vip_party"]
        assert d["status"] == "delivered"
        assert sorted(
            p.name for p in (srv.root / "incoming" / SEND.isoformat() / "vip_party").iterdir()
        ) == sorted(_local_files(out))


@pytest.mark.slow
@pytest.mark.sshd
def test_sftp_is_retried_until_the_server_answers(tmp_path, exported):
    """The server comes up a moment after the first attempt: refused connections are retried."""
    from tests.fakes.sshd import OpenSshServer

    out, manifests = exported
    cfg = live_config(
        tmp_path, CRM_RETRY_BASE_SECONDS="0.3", CRM_RETRY_MAX_SECONDS="0.6", CRM_RETRY_MAX_ATTEMPTS="12"
    )
    srv = OpenSshServer(tmp_path / "sshd").prepare()  # keys known, not listening yet
    plan = plan_with_deliveries(sftp=_sftp_spec(srv), names="[marketing_sftp]")
    starter = threading.Timer(1.0, srv.start)
    starter.start()
    try:
        (d,) = deliver_exports(manifests, plan, out, cfg, SEND, env={KEY_ENV: srv.client_key})["vip_party"]
    finally:
        starter.join()
        srv.stop()
    assert d["status"] == "delivered" and d["attempts"] > 1, d


def test_sftp_secrets_come_from_the_variables_the_plan_names(tmp_path):
    from activations.channels.sftp import SftpDeliveryError, SftpUploader
    from activations.plan.spec import SftpDelivery

    key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl"
    by_password = SftpDelivery(host="h", username="u", host_key=key, password_env="CRM_SFTP_PASSWORD")
    with pytest.raises(SftpDeliveryError, match="CRM_SFTP_PASSWORD is not set"):
        SftpUploader(by_password, {}, live_config(tmp_path).retry)
    assert (
        SftpUploader(by_password, {"CRM_SFTP_PASSWORD": "pw"}, live_config(tmp_path).retry)._password == "pw"
    )
    by_key = SftpDelivery(host="h", username="u", host_key=key, private_key_env="CRM_SFTP_KEY")
    with pytest.raises(SftpDeliveryError, match="CRM_SFTP_KEY is not set"):
        SftpUploader(by_key, {"CRM_SFTP_PASSWORD": "pw"}, live_config(tmp_path).retry)
    with pytest.raises(SftpDeliveryError, match="not an Ed25519, ECDSA or RSA private key"):
        SftpUploader(by_key, {"CRM_SFTP_KEY": "not a key"}, live_config(tmp_path).retry)
    with pytest.raises(SftpDeliveryError, match="not a valid public key"):
        SftpUploader(
            SftpDelivery(host="h", username="u", host_key="ssh-ed25519 AAAA", password_env="CRM_P"),
            {"CRM_P": "x"},
            live_config(tmp_path).retry,
        )
