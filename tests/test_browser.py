"""The real page in headless Chromium: open each tab, turn a knob, upload, see the answer.

Chromium comes from the system (Debian: `apt-get install chromium chromium-driver`); this
test never downloads a browser. Each tab's screenshot goes to tests/artifacts/<tab>.png, and
also to docs/screenshots/<tab>.png (the README's pictures) with MENNY_UPDATE_SCREENSHOTS=1:
    MENNY_UPDATE_SCREENSHOTS=1 python -m pytest tests/test_browser.py
"""

import os
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = ROOT / "tests" / "artifacts"
DOCS = ROOT / "docs" / "screenshots"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",
]
WAIT_MS = 30_000

sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
if not Path(CHROMIUM).is_file():
    pytest.skip(
        f"Chromium not found at {CHROMIUM}: apt-get install chromium chromium-driver",
        allow_module_level=True,
    )


@pytest.fixture(scope="module")
def page(app_url):
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        page = browser.new_page(viewport={"width": 1280, "height": 1000})
        page.goto(app_url)
        yield page
        browser.close()


def shoot(page, name: str) -> None:
    folders = [ARTIFACTS] + ([DOCS] if os.environ.get("MENNY_UPDATE_SCREENSHOTS") == "1" else [])
    for folder in folders:
        folder.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(folder / f"{name}.png"), full_page=True)


def open_tab(page, name: str) -> None:
    page.get_by_role("tab", name=name).click()


def wait_text(page, selector: str, text: str) -> None:
    page.locator(selector).get_by_text(text).first.wait_for(timeout=WAIT_MS)


def test_playground_knob_and_upload(page, tmp_path):
    open_tab(page, "Kernel playground")
    wait_text(page, "#sums", "(256 - 3 + 2*1) / 1 + 1 = 256")  # computed on page load
    page.locator("#stride input[type=number]").fill("2")
    page.locator("#stride input[type=number]").press("Enter")
    wait_text(page, "#sums", "floor((256 - 3 + 2*1) / 2) + 1 = floor(255 / 2) + 1 = 128")
    photo = tmp_path / "gradient.png"
    ramp = np.tile(np.linspace(0, 255, 300, dtype=np.uint8), (200, 1))
    Image.fromarray(np.stack([ramp] * 3, axis=-1)).save(photo)
    page.locator("#picture input[type=file]").set_input_files(str(photo))
    wait_text(page, "#sums", "floor((200 - 3 + 2*1) / 2) + 1")  # the upload's own height
    page.locator("#feature img").wait_for(timeout=WAIT_MS)
    # A preset fills the grid; an edited grid applies when the box loses focus.
    page.get_by_label("Preset kernel").click()
    page.get_by_role("option", name="Laplacian (4-neighbour)").click()
    grid = page.locator("#grid textarea")
    sync_api.expect(grid).to_have_value("0  1  0\n1  -4  1\n0  1  0", timeout=WAIT_MS)
    before = page.locator("#value-range").inner_text()
    grid.fill("0 0 0\n0 2 0\n0 0 0")
    grid.blur()
    sync_api.expect(page.locator("#value-range")).not_to_have_text(before, timeout=WAIT_MS)
    page.get_by_text("Step by step: one output value").click()
    page.get_by_text("Sum = ").first.wait_for(timeout=WAIT_MS)
    # For the picture: a bundled image, Sobel x, stride 1, max pooling.
    page.locator("#pictures img").nth(2).click()  # the Siemens star
    page.get_by_label("Preset kernel").click()
    page.get_by_role("option", name="Sobel x").click()
    page.locator("#stride input[type=number]").fill("1")
    page.locator("#stride input[type=number]").press("Enter")
    page.get_by_label("max", exact=True).check()
    wait_text(page, "#sums", "(256 - 3 + 2*1) / 1 + 1 = 256")
    page.locator("#pooled img").wait_for(timeout=WAIT_MS)
    shoot(page, "playground")


def test_shapes_tab(page):
    open_tab(page, "Shapes")
    wait_text(page, "#shapes-summary", "agree on every shape")
    height = page.get_by_label("Input height")
    height.fill("32")
    height.press("Enter")
    # height 32 -> conv (pad 1) 32 -> pool 16 -> conv 16 -> pool 8; width 64 -> 16; 32 channels
    page.get_by_text("8x16x32").first.wait_for(timeout=WAIT_MS)
    shoot(page, "shapes")


def test_classify_tab(page, running_app):
    if running_app[1].shipped is None:  # no shipped weights: the page's visitor has no model
        pytest.skip("no model to classify with: neither shipped weights nor a trained run")
    open_tab(page, "Classify")
    page.locator("#photo input[type=file]").set_input_files(
        str(ROOT / "demo_assets" / "circle.png")
    )
    page.locator("#label").get_by_text("%").first.wait_for(timeout=WAIT_MS)
    page.locator("#saliency img").wait_for(timeout=WAIT_MS)
    portraits = page.locator("#portraits img")
    if portraits.count():  # a click on a bundled portrait classifies it at once
        from menny_app.layout import portrait_examples

        portraits.first.click()
        # This page is its own visitor: models trained by other tests' clients are not
        # its own, so the shipped model answers, with the portrait's name.
        first_class = Path(portrait_examples()[0]).parent.name
        sync_api.expect(page.locator("#unsure")).to_contain_text(first_class, timeout=WAIT_MS)
    shoot(page, "classify")


def test_train_tab_preview_and_two_epochs(page):
    open_tab(page, "Train")
    page.get_by_role("button", name="Preview the stream").click()
    portraits = ROOT / "portraits"
    if not any(portraits.glob("*/*")):
        # No bundled dataset in this checkout: the page must say so, not break.
        page.get_by_text("has no class sub-folders").first.wait_for(timeout=WAIT_MS)
        shoot(page, "train")
        pytest.skip("the bundled portraits are missing: checked the error message only")
    page.locator("#preview img").wait_for(timeout=WAIT_MS)
    wait_text(page, "#dataset-note", "images in")
    # Two epochs on the portraits: live curves, then the test metrics.
    epochs = page.get_by_label("Epochs", exact=True)
    epochs.fill("2")
    epochs.press("Tab")
    page.get_by_role("button", name="Train", exact=True).click()
    page.locator("#train-status").get_by_text("best epoch").wait_for(timeout=180_000)
    page.get_by_text("Test accuracy").first.wait_for(timeout=WAIT_MS)
    shoot(page, "train")
    # The Classify tab now says the new run answers (its note is refreshed on every visit).
    open_tab(page, "Classify")
    wait_text(page, "#model-note", "trained in this session")


def test_grid_lab_pin_scrub_and_play(page):
    open_tab(page, "Grid lab")
    wait_text(page, "#lab-step", "Sum = 80")  # the course's Laplacian, computed on page load
    page.get_by_label("Examples").click()
    page.get_by_role("option", name="vertical edge kernel on a step edge").click()
    wait_text(page, "#lab-sizes", "(6 - 3 + 2*0) / 1 + 1 = 4")
    wait_text(page, "#lab-step", "Output (0, 1)")
    # A click on an output cell pins it: the step, the row field and the frame follow it.
    page.locator("#lab-output [data-testid=cell-2-0]").click()
    wait_text(page, "#lab-step", "Output (2, 0)")
    sync_api.expect(page.locator("#lab-row input")).to_have_value("2", timeout=WAIT_MS)
    position = page.locator("#lab-position input[type=number]")
    sync_api.expect(position).to_have_value("8", timeout=WAIT_MS)  # output (2, 0) of 4x4
    frame = page.locator("#lab-frame img")
    frame.wait_for(timeout=WAIT_MS)
    before = frame.get_attribute("src")
    # Scrubbing moves the window: a new frame.
    position.fill("5")
    position.press("Enter")
    sync_api.expect(frame).not_to_have_attribute("src", before, timeout=WAIT_MS)
    sync_api.expect(position).to_have_value("5", timeout=WAIT_MS)
    page.get_by_role("button", name="Play the whole sweep").click()
    page.locator("#lab-gif img").wait_for(timeout=WAIT_MS)
    wait_text(page, "#lab-sweep-note", "all 16 output cells")
    # For the picture: the small picture with padding 1, its padding cells in the window.
    page.get_by_label("Examples").click()
    page.get_by_role("option", name="a small picture: a bright square, Sobel x").click()
    wait_text(page, "#lab-step", "Output (4, 2)")
    page.get_by_role("button", name="Play the whole sweep").click()
    wait_text(page, "#lab-sweep-note", "all 100 output cells")
    shoot(page, "grid_lab")
