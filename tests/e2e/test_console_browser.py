"""The web console in headless Chromium, with a fake microphone that speaks a Piper WAV."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from switchboard_cli.call import write_wav
from switchboard_serve.evaluation import word_error_rate
from tests.e2e.conftest import REPO, Platform, launched_chromium
from tests.speech import synthesise

pytestmark = pytest.mark.browser

QUESTION = "What time do you open on Saturday?"
#: Screenshots land here (CI prints the path); override with SWITCHBOARD_ARTIFACTS.
ARTIFACTS = Path(os.environ.get("SWITCHBOARD_ARTIFACTS", REPO / "tests" / "artifacts"))


@pytest.fixture(scope="module")
def microphone(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Silence while the greeting plays, the question, then silence (Chromium loops the file)."""
    path = tmp_path_factory.mktemp("mic") / "question.wav"
    speech = synthesise([QUESTION])[0]
    write_wav(path, bytes(2 * 16_000 * 5) + speech + bytes(2 * 16_000 * 60))
    return path


@pytest.fixture(scope="module")
def browser(microphone: Path) -> Iterator[Browser]:
    args = [
        "--use-fake-device-for-media-stream",
        "--use-fake-ui-for-media-stream",
        f"--use-file-for-fake-audio-capture={microphone}",
        "--autoplay-policy=no-user-gesture-required",
    ]
    with launched_chromium(args) as launched:
        yield launched


def _screenshot(page: Page, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / name
    page.screenshot(path=str(path), full_page=True)
    print(f"screenshot: {path}")


def test_a_spoken_turn_in_the_console_shows_transcript_reply_and_waterfall(
    platform: Platform, browser: Browser
) -> None:
    page = browser.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(platform.running.login_url)
    # Signed in: the token became a cookie and left the address bar.
    assert page.url == platform.running.console_url
    cookies = {c["name"]: c for c in page.context.cookies()}
    assert cookies["switchboard_token"]["httpOnly"]
    assert cookies["switchboard_token"]["sameSite"] == "Strict"
    page.get_by_label("Agent", exact=True).select_option("acme/receptionist")
    page.get_by_role("button", name="Start talking").click()
    expect(page.get_by_role("status")).to_contain_text("In a call with acme/receptionist")

    caller = page.locator("#conversation li.caller").first
    expect(caller).to_be_visible(timeout=60_000)
    heard = caller.inner_text().removeprefix("You: ")
    assert word_error_rate([(QUESTION, heard)]) <= 0.2, heard
    waterfall = page.locator('#waterfall svg[data-turn="1"]')
    expect(waterfall).to_be_visible(timeout=60_000)
    reply = page.locator('#conversation li.agent[data-turn="1"]')
    assert len(reply.inner_text().removeprefix("Agent:").split()) >= 2
    greeting = page.locator('#conversation li.agent[data-turn="0"]')
    expect(greeting).to_contain_text("Acme Dental")
    for stage in ("endpointingMs", "asrFinalMs", "llmTtftMs", "ttsTtfbMs", "voiceToVoiceMs"):
        bar = waterfall.locator(f'rect[data-stage="{stage}"]')
        assert float(bar.get_attribute("width") or 0) > 0, stage
    assert "voice-to-voice" in (waterfall.get_attribute("aria-label") or "")
    _screenshot(page, "console-call.png")

    page.get_by_role("button", name="Hang up").click()
    expect(page.locator("#conversation li.ended")).to_contain_text("caller_hangup")

    page.get_by_role("link", name="Calls").click()
    latest = page.locator("#calls tbody button").first
    expect(latest).to_be_visible()
    latest.click()
    expect(page.locator("#call-detail")).to_contain_text("websocket")
    expect(page.locator("#turns tbody")).to_contain_text(heard)
    _screenshot(page, "console-calls.png")
    assert errors == []
