"""Certificates: generation, the Secret layout, and the rotation schedule simulated over twelve years."""

from __future__ import annotations

import datetime
import ssl

from webhooks.certs import CertPolicy, Material, apply_plan, issue_serving, new_ca, plan, split_pem

NOW = datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)
HOSTS = ["metallb-webhook-service.metallb-system.svc", "127.0.0.1"]


def test_a_first_install_creates_a_ca_and_a_certificate_at_once() -> None:
    p = plan(NOW, Material(), HOSTS)
    assert (p.new_ca, p.new_cert) == (True, True)
    m = apply_plan(Material(), p, NOW, HOSTS)
    assert len(m.cas) == 1 and m.serving is not None
    assert m.cas[0].signed(m.serving.cert)
    assert m.serving.hosts() == frozenset(HOSTS)
    assert m.cas[0].cert.subject.rfc4514_string() == "O=metallb,CN=cert"
    later = plan(NOW, m, HOSTS)
    assert (later.new_ca, later.new_cert) == (False, False)
    assert later.next_check == NOW + CertPolicy().max_sleep


def test_the_secret_round_trips_and_bad_data_is_regenerated() -> None:
    m = apply_plan(Material(), plan(NOW, Material(), HOSTS), NOW, HOSTS)
    again = Material.from_secret_data(m.to_secret_data())
    assert again == m
    broken = Material.from_secret_data({**m.to_secret_data(), "tls.key": m.cas[0].key_pem})
    assert broken.serving is None and plan(NOW, broken, HOSTS).new_cert


def test_the_serving_certificate_works_in_an_ssl_context(tmp_path: object) -> None:
    import pathlib

    assert isinstance(tmp_path, pathlib.Path)
    ca = new_ca(NOW)
    pair = issue_serving(ca, HOSTS, datetime.datetime.now(datetime.UTC))
    (tmp_path / "c").write_bytes(pair.cert_pem)
    (tmp_path / "k").write_bytes(pair.key_pem)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(tmp_path / "c", tmp_path / "k")


def test_a_certificate_never_outlives_its_ca() -> None:
    policy = CertPolicy(ca_validity=datetime.timedelta(days=10))
    ca = new_ca(NOW, policy)
    assert issue_serving(ca, HOSTS, NOW, policy).not_after == ca.not_after


def test_new_hosts_get_a_new_certificate() -> None:
    m = apply_plan(Material(), plan(NOW, Material(), HOSTS), NOW, HOSTS)
    assert plan(NOW, m, [*HOSTS, "other.svc"]).new_cert


def test_rotation_over_twelve_years_never_serves_an_untrusted_certificate() -> None:
    """Step through time; the served certificate must always be signed by a CA published ``ca_grace`` earlier."""
    policy = CertPolicy(max_sleep=datetime.timedelta(days=30))
    now = NOW
    m = apply_plan(Material(), plan(now, Material(), HOSTS, policy), now, HOSTS, policy)
    published = {m.cas[0].serial: now - policy.ca_grace}  # first install: nothing to be trusted by yet
    serials = {m.serving.serial} if m.serving else set()
    ca_serials = {m.cas[0].serial}
    end = NOW + datetime.timedelta(days=365 * 12)
    steps = 0
    while now < end:
        steps += 1
        p = plan(now, m, HOSTS, policy)
        assert p.next_check > now
        m = apply_plan(m, p, now, HOSTS, policy)
        for ca in m.cas:
            published.setdefault(ca.serial, now)
            ca_serials.add(ca.serial)
        assert m.serving is not None and m.serving.not_after > now
        issuer = next(ca for ca in m.cas if ca.signed(m.serving.cert))
        assert published[issuer.serial] + policy.ca_grace <= now, "served a certificate from a CA still in grace"
        serials.add(m.serving.serial)
        now = min(plan(now, m, HOSTS, policy).next_check, now + datetime.timedelta(days=30))
    assert len(ca_serials) >= 2, "the CA was never renewed"
    assert len(serials) >= 15, f"the serving certificate was renewed {len(serials)} times"
    assert steps < 2000


def test_a_new_ca_waits_for_the_grace_before_signing() -> None:
    policy = CertPolicy(ca_validity=datetime.timedelta(days=30), cert_validity=datetime.timedelta(days=3))
    m = apply_plan(Material(), plan(NOW, Material(), HOSTS, policy), NOW, HOSTS, policy)
    due = NOW + datetime.timedelta(days=21)  # past 2/3 of the CA's life
    m = Material(m.cas, issue_serving(m.cas[0], HOSTS, due - datetime.timedelta(hours=1), policy))
    p = plan(due, m, HOSTS, policy)
    assert p.new_ca and not p.new_cert
    m2 = apply_plan(m, p, due, HOSTS, policy)
    assert len(m2.cas) == 2 and split_pem(m2.bundle) == [m2.cas[0].cert_pem, m2.cas[1].cert_pem]
    assert m2.serving == m.serving
    assert not plan(due + policy.ca_grace / 2, m2, HOSTS, policy).new_cert
    after = plan(due + policy.ca_grace + datetime.timedelta(minutes=1), m2, HOSTS, policy)
    assert after.new_cert and after.reason == "serving certificate signed by an older CA"


def test_a_long_namespace_still_gets_a_certificate_for_every_host() -> None:
    hosts = [f"metallb-webhook-service.{'n' * 63}.svc", f"metallb-webhook-service.{'n' * 63}.svc.cluster.local"]
    pair = issue_serving(new_ca(NOW), hosts, NOW)
    assert pair.hosts() == frozenset(hosts)
    assert pair.cert.subject.rfc4514_string() == "CN=metallb-webhook-service"
