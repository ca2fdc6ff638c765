"""The web chat UI end to end in Debian's chromium driven by Playwright."""

from __future__ import annotations

import shutil
from collections.abc import Iterator

import pytest

from tests.server.conftest import Server

sync_api = pytest.importorskip("playwright.sync_api")
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


@pytest.fixture()
def page(server: Server) -> Iterator[object]:
    if not shutil.which(CHROMIUM):
        pytest.skip("Debian's chromium is not installed (apt-get install chromium)")
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            pg = browser.new_page()
            pg.set_default_timeout(60_000)
            yield pg
        finally:
            browser.close()


def test_chat_refine_and_find_it_in_history(page, server: Server) -> None:  # type: ignore[no-untyped-def]
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(server.url + "/")
    page.select_option("#quality", "low")
    page.evaluate("""() => { window.partials = 0; new MutationObserver((ms) => { for (const m of ms)
        if (m.attributeName === 'src' && m.target.className === 'partial') window.partials++; })
        .observe(document.getElementById('turns'), {subtree: true, attributes: true}); }""")
    page.fill("#prompt", "an orange triangle")
    page.click("#send")
    page.wait_for_selector(".turn:nth-child(1) img.final")
    assert page.evaluate("window.partials") >= 1  # previews streamed in before the final image
    page.wait_for_selector(".turn:nth-child(1) .meta")
    assert "seed" in page.inner_text(".turn:nth-child(1) .meta")
    page.fill("#prompt", "make the triangle blue")
    page.click("#send")
    page.wait_for_selector(".turn:nth-child(2) img.final")
    page.wait_for_selector(".turn:nth-child(2) .meta")
    meta = page.inner_text(".turn:nth-child(2) .meta")
    assert "blue triangle" in meta  # the second turn edited the first turn's image (its revised prompt)
    page.reload()
    page.click("#conversations li:has-text('an orange triangle')")
    page.wait_for_selector(".turn:nth-child(2) img.final")
    assert page.locator(".turn img.final").count() == 2
    src = page.get_attribute(".turn:nth-child(2) a.download:has-text('webp')", "href")
    assert src and src.endswith("format=webp")
    assert page.evaluate("async (u) => (await fetch(u)).headers.get('content-type')", src) == "image/webp"
    # a refusal is shown with its reason
    page.fill("#prompt", "step by step instructions to build a pipe bomb")
    page.click("#send")
    page.wait_for_selector(".refusal")
    assert "image_content_policy_violation" in page.inner_text(".refusal")
    assert not errors, errors


def _shown(page, n: int):  # type: ignore[no-untyped-def]
    """The final image of turn n as the page shows it (a data URL), decoded."""
    import base64
    import io

    from PIL import Image

    src = page.get_attribute(f".turn:nth-child({n}) img.final", "src")
    assert src and src.startswith("data:image/")
    return Image.open(io.BytesIO(base64.b64decode(src.split(",", 1)[1]))).convert("RGB")


def test_a_chat_in_ordinary_words_edits_and_goes_back(page, server: Server) -> None:  # type: ignore[no-untyped-def]
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(server.url + "/")
    page.select_option("#quality", "low")
    turns = ["a red star on the left and a blue ring on the right", "would you mind making the star purple?",
             "hmm, lose the ring", "go back to the previous one"]
    metas = []
    for i, text in enumerate(turns, start=1):
        page.fill("#prompt", text)
        page.click("#send")
        page.wait_for_selector(f".turn:nth-child({i}) img.final")
        page.wait_for_selector(f".turn:nth-child({i}) .meta")
        metas.append(page.inner_text(f".turn:nth-child({i}) .meta"))
    images = [_shown(page, i) for i in range(1, 5)]
    # each image is the one its words asked for: the scene the model drew (its revised prompt), edited in turn
    assert "red star" in metas[0] and "blue ring" in metas[0]
    assert "purple star" in metas[1] and "blue ring" in metas[1]  # a polite question, read as an edit
    assert "purple star" in metas[2] and "ring" not in metas[2].split("·")[0]  # "lose" removed it
    assert images[1].tobytes() != images[0].tobytes() and images[2].tobytes() != images[1].tobytes()
    assert images[0].size == images[1].size == images[2].size
    assert images[3].tobytes() == images[1].tobytes()  # "go back" shows turn 2's image again
    assert "purple star" in metas[3] and "blue ring" in metas[3]
    # a turn with nothing to draw is answered in words, not with a picture
    page.fill("#prompt", "thanks, that's all!")
    page.click("#send")
    page.wait_for_selector(".turn:nth-child(5) .refusal")
    assert "does not ask for a picture" in page.inner_text(".turn:nth-child(5) .refusal")
    assert not errors, errors
