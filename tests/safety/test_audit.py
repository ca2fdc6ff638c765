from __future__ import annotations

import sqlite3
from pathlib import Path

from PIL import Image

from limner.safety.audit import AuditStore
from limner.safety.stack import SafetyStack
from limner.safety.verdict import Decision, Verdict


def _blocked(cat: str) -> Decision:
    return Decision.from_verdicts("prompt", [Verdict(False, "prompt.rules", cat, "x", {}, "no")])


def test_every_decision_is_recorded_with_layer_rule_scores(fresh_stack: SafetyStack) -> None:
    d1 = fresh_stack.check_prompt("a red circle", user="u1")
    d2 = fresh_stack.check_prompt("a nude woman, photo", user="u1")
    rows = fresh_stack.audit.decisions(limit=10)
    assert {r["id"] for r in rows} == {d1.decision_id, d2.decision_id}
    blocked = [r for r in rows if not r["allowed"]][0]
    assert blocked["categories"] == ["sexual"] and blocked["verdicts"][2]["rule"] == "sex.nudity"
    assert blocked["user"] == "u1" and blocked["policy_version"] == fresh_stack.policy.version


def test_blocked_image_keeps_only_its_hash(fresh_stack: SafetyStack, tmp_path: Path) -> None:
    im = Image.new("RGB", (64, 64), (200, 10, 10))
    d = fresh_stack.check_images([im], stage="input", prompt="make her naked", age=12)
    assert not d.allowed
    row = fresh_stack.audit.decisions(limit=1)[0]
    assert len(row["image_hashes"]) == 1 and len(row["image_hashes"][0]["sha256"]) == 64
    con = sqlite3.connect(fresh_stack.settings.audit_path)
    blob = b"".join(str(r).encode() for r in con.execute("SELECT * FROM decisions").fetchall())
    assert im.tobytes()[:48] not in blob  # pixel bytes never stored
    con.close()


def test_misuse_score_flags_then_suspends(tmp_path: Path) -> None:
    a = AuditStore(tmp_path / "a.sqlite", weights={"default": 1.0, "child_safety": 10.0}, flag_at=3, suspend_at=12)
    for _ in range(3):
        a.record(
            _blocked("violence"), prompt="p", user="k", image_hashes=[], policy_version="t", age=None, moderation="auto"
        )
    assert a.misuse("k").status == "flagged" and a.misuse("k").score == 3.0
    a.record(
        _blocked("child_safety"), prompt="p", user="k", image_hashes=[], policy_version="t", age=None, moderation="auto"
    )
    assert a.misuse("k").status == "suspended"
    assert a.misuse("other").status == "ok"
    a.reset_user("k")
    assert a.misuse("k").status == "ok"
    # the log is unchanged by the review: the four refusals are still the user's own
    assert len(a.decisions(user="k", blocked_only=True)) == 4
    # only refusals after the review count: one more violence refusal scores 1, not 4 + 10
    a.record(
        _blocked("violence"), prompt="p", user="k", image_hashes=[], policy_version="t", age=None, moderation="auto"
    )
    assert a.misuse("k").status == "ok" and a.misuse("k").score == 1.0
    a.close()


def test_store_from_before_reviews_is_upgraded(tmp_path: Path) -> None:
    import sqlite3

    con = sqlite3.connect(tmp_path / "old.sqlite")
    con.executescript(
        "CREATE TABLE users (user TEXT PRIMARY KEY, score REAL NOT NULL, status TEXT NOT NULL, updated REAL NOT NULL);"
        "INSERT INTO users VALUES ('k', 20, 'suspended', 1.0);"
    )
    con.commit()
    con.close()
    a = AuditStore(tmp_path / "old.sqlite")
    assert a.misuse("k").status == "suspended"
    a.reset_user("k")
    assert a.misuse("k").status == "ok"
    a.close()


def test_suspended_user_is_refused_by_the_stack(fresh_stack: SafetyStack) -> None:
    for _ in range(2):
        fresh_stack.check_prompt("a sexy 14 year old", user="bad")  # child safety weighs 10 each
    assert fresh_stack.audit.misuse("bad").status == "suspended"
    d = fresh_stack.check_prompt("a red circle", user="bad")
    assert not d.allowed and d.categories == ["misuse"]
    assert fresh_stack.check_prompt("a red circle", user="good").allowed


def test_audit_survives_reopen(tmp_path: Path) -> None:
    a = AuditStore(tmp_path / "a.sqlite")
    rid = a.record(
        _blocked("sexual"), prompt="p", user=None, image_hashes=[], policy_version="t", age=None, moderation="auto"
    )
    a.close()
    b = AuditStore(tmp_path / "a.sqlite")
    assert b.decisions()[0]["id"] == rid
    b.close()
