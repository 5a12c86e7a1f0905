"""`manage.py demo --headless` on a machine where nothing is running: it starts and stops it all, and
drafts every section of the VAWA template through the five stages on the real model."""

from __future__ import annotations

import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings

from config.stack import port_open
from generation.declarations import VAWA
from tests.conftest import REPO

pytestmark = pytest.mark.realstack

# Ports of its own, so the command finds nothing of the test session's (or `make run`'s) running.
REDIS_PORT = 6393
CONTROL_PORT = 8793


def test_demo_headless_starts_what_it_needs_drafts_and_stops_it_all(tmp_path: Path) -> None:
    assert not port_open("127.0.0.1", REDIS_PORT) and not port_open("127.0.0.1", CONTROL_PORT)
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL", "DJANGO_SETTINGS_MODULE")}
    env.update(
        AFFIANT_VAR_DIR=str(tmp_path),
        AFFIANT_EMBEDDED_REDIS_PORT=str(REDIS_PORT),
        LLAMACPP_CONTROL_URL=f"http://127.0.0.1:{CONTROL_PORT}",
        AFFIANT_DRAFT_SECTIONS="",  # the whole template
    )
    result = subprocess.run(
        [sys.executable, "manage.py", "demo", "--headless"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=2400,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert len(result.stdout.strip().splitlines()) == 1  # stdout holds the JSON line alone
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    # Progress went to stderr as it ran, the last line with every section finished.
    progress = re.findall(r"^\[\s*\d+s\] sections (\d+)/(\d+) \| calls (\d+) done", result.stderr, re.M)
    assert len(progress) >= 2 and progress[-1][:2] == (str(len(VAWA.sections)),) * 2, result.stderr[-3000:]
    print("DEMO", json.dumps(summary))  # the figures README quotes
    assert set(summary) == {
        "run", "status", "sections", "sentences", "cited_sentences", "flagged_sentences", "missing_facts",
        "judges", "bertscore_f1_mean", "words", "llm_calls", "hangs", "seconds",
    }  # fmt: skip
    assert summary["status"] == "completed" and summary["judges"] == len(settings.AFFIANT_JUDGE_ROUTES)
    assert summary["sections"] >= 1 and summary["cited_sentences"] >= 1 and summary["llm_calls"] >= 5
    assert 0 < summary["bertscore_f1_mean"] <= 1

    with sqlite3.connect(tmp_path / "affiant.sqlite3") as db:
        rows = db.execute(
            "SELECT s.key, s.text, s.sentences, s.judgement FROM generation_draftsection s"
            " JOIN generation_draftversion v ON v.id = s.version_id WHERE v.run_id = ? AND v.number = 1",
            (summary["run"],),
        ).fetchall()
    assert [key for key, *_ in rows] == [s.key for s in VAWA.sections]  # every section of the template
    for key, text, sentences_json, judgement_json in rows:
        sentences, judgement = json.loads(sentences_json), json.loads(judgement_json)
        for sentence in sentences:
            assert sentence["facts"] or sentence["flags"], (key, sentence)  # cited, or flagged
            if sentence["facts"]:
                assert sentence["bertscore"] is not None, (key, sentence)
        if text:
            judges = len(settings.AFFIANT_JUDGE_ROUTES)
            assert len(judgement["judges"]) == judges and judgement["criteria"], key  # judge scores stored
    # It used the embedded Redis and SQLite under its var dir, and left nothing running.
    assert (tmp_path / "affiant.sqlite3").exists() and (tmp_path / "redis").is_dir()
    assert not port_open("127.0.0.1", REDIS_PORT) and not port_open("127.0.0.1", CONTROL_PORT)


def test_a_sigterm_stops_everything_the_command_started(tmp_path: Path) -> None:
    """Stopping the command (a CI timeout, `kill`) must not leave the model host, its model processes, the
    workers or Redis running: SIGTERM is taken like Ctrl-C."""
    import psutil

    redis_port, control_port = REDIS_PORT + 1, CONTROL_PORT + 1
    assert not port_open("127.0.0.1", redis_port) and not port_open("127.0.0.1", control_port)
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL", "DJANGO_SETTINGS_MODULE")}
    env.update(
        AFFIANT_VAR_DIR=str(tmp_path),
        AFFIANT_EMBEDDED_REDIS_PORT=str(redis_port),
        LLAMACPP_CONTROL_URL=f"http://127.0.0.1:{control_port}",
        AFFIANT_DRAFT_SECTIONS="introduction",
    )
    command = subprocess.Popen(
        [sys.executable, "manage.py", "demo", "--headless"],
        cwd=REPO,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert command.stderr is not None
        for line in command.stderr:  # the run has started once progress counts its sections
            if re.match(r"^\[\s*\d+s\] sections \d+/\d+", line):
                break
        else:
            pytest.fail("the command ended before its run started")
        started = psutil.Process(command.pid).children(recursive=True)
        assert started  # Redis, the model host and the workers
        command.send_signal(signal.SIGTERM)
        command.communicate(timeout=180)
    finally:
        if command.poll() is None:
            command.kill()
    _, alive = psutil.wait_procs(started, timeout=30)
    for process in alive:  # left behind: stopped here, so a failure costs the session nothing more
        process.kill()
    assert not alive, [p.pid for p in alive]
    assert not port_open("127.0.0.1", redis_port) and not port_open("127.0.0.1", control_port)
