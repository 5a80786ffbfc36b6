"""The web experience in a real Chromium, with the real worker and models behind it.

One walk, the way a new user would go: sign up, upload several photos (progress bars, then the
analysis status changing live, the grid and its count growing without a reload), wait for "done",
see the heat maps (on by default, the choice remembered across reloads), open similar photos,
search with a drawn region and with an outside photo, make an album (a 4:3 cover at every
width), make a photo public and see it on Explore as another user, delete a photo. The main pages
are photographed at desktop and phone width along the way (tests/e2e/conftest.py: snap).
Rendered sizes are measured, not assumed: thumbnails keep their own shape, small photos are
scaled up smoothly, the header names who is signed in on a phone.
"""

from __future__ import annotations

import pytest

from gallery import services
from gallery.models import AnalysisStatus, Image
from tests.conftest import scene_photo
from tests.e2e.conftest import snap

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

# The worker loads TensorFlow (and converts weights on a fresh checkout) before its first photo.
FIRST_ANALYSIS_TIMEOUT_S = 180
PASSWORD = "a-long-pass-phrase-42"


def gallery_photos(tmp_path) -> tuple[list[str], str]:
    """Four photos to upload (two of each of two made-up flower species) and an outside photo to
    search with. Made up, not from the shared data sets: the screenshots go into the README."""
    names = ["meadow", "garden", "balcony", "roadside", "park"]
    paths = []
    for seed, name in enumerate(names):
        path = tmp_path / f"{name}.jpg"
        path.write_bytes(scene_photo(seed, species=seed % 2))
        paths.append(str(path))
    return paths[:4], paths[4]


def sign_up(page, base_url: str, username: str) -> None:
    page.goto(f"{base_url}/accounts/signup/")
    page.fill("#id_username", username)
    page.fill("#id_password1", PASSWORD)
    page.fill("#id_password2", PASSWORD)
    page.click("main button[type=submit]")
    page.wait_for_url("**/mine/")


def assert_images_have_alt_text(page) -> None:
    missing = page.eval_on_selector_all("img", "imgs => imgs.filter(i => !i.hasAttribute('alt')).map(i => i.src)")
    assert missing == [], missing
    unlabeled = page.eval_on_selector_all("img:not(.overlay)",
                                          "imgs => imgs.filter(i => !i.alt.trim()).map(i => i.src)")
    assert unlabeled == [], unlabeled  # only heat maps laid over a described photo may have alt=""


def heat_map_coverage(page, selector: str) -> float:
    """Share of the pixels of the heat-map image at ``selector`` that are not fully transparent,
    once it is shown and loaded (0 if it is hidden)."""
    page.locator(selector).first.scroll_into_view_if_needed()
    page.wait_for_function(f"(() => {{ const i = document.querySelector({selector!r}); "
                           "return i && i.complete && i.naturalWidth > 0; })()")
    return page.eval_on_selector(selector, """img => {
        if (img.hidden || getComputedStyle(img).display === "none") return 0;
        const canvas = document.createElement("canvas");
        canvas.width = img.naturalWidth; canvas.height = img.naturalHeight;
        const context = canvas.getContext("2d");
        context.drawImage(img, 0, 0);
        const pixels = context.getImageData(0, 0, canvas.width, canvas.height).data;
        let seen = 0;
        for (let i = 3; i < pixels.length; i += 4) if (pixels[i] > 0) seen++;
        return seen / (pixels.length / 4);
    }""")


def misshapen_images(page, selector: str) -> list[dict]:
    """Images at ``selector`` whose rendered box is not the shape of the picture itself (stretched,
    or cropped a second time by object-fit), more than 1.5 % off."""
    page.wait_for_function(f"[...document.querySelectorAll({selector!r})].every(i => i.complete && i.naturalWidth > 0)")
    return page.eval_on_selector_all(selector, """imgs => imgs.map(i => {
        const box = i.getBoundingClientRect();
        return {src: i.getAttribute("src"), box: [box.width, box.height], natural: [i.naturalWidth, i.naturalHeight]};
    }).filter(i => Math.abs((i.box[0] / i.box[1]) / (i.natural[0] / i.natural[1]) - 1) > 0.015)""")


def box_size(page, selector: str) -> tuple[float, float]:
    box = page.locator(selector).first.bounding_box()
    return box["width"], box["height"]


def full_size_requests(page, action) -> list[str]:
    """URLs of display copies or originals the page asked for while ``action`` ran."""
    seen: list[str] = []
    listener = lambda request: seen.append(request.url)  # noqa: E731
    page.on("request", listener)
    action()
    page.wait_for_load_state("networkidle")
    page.remove_listener("request", listener)
    return [url for url in seen if "/file" in url or "/original" in url]


def test_a_new_user_walks_through_the_gallery(celery_worker_process, live_server, browser, tmp_path):
    photos, outside = gallery_photos(tmp_path)
    context = browser.new_context(viewport={"width": 1280, "height": 800}, bypass_csp=True)  # see conftest.page
    page = context.new_page()
    page.set_default_timeout(20_000)
    sign_up(page, live_server.url, "alice")

    # Upload: a progress bar per file, then each photo's status changes without a reload; the grid
    # below takes each new photo and counts it, and its tiles follow the analysis too.
    assert page.inner_text("#photo-count") == "0 photos"
    page.set_input_files("#upload-form input[type=file]", photos)
    items = page.locator("#uploads .upload-item")
    items.nth(len(photos) - 1).wait_for()
    assert items.count() == len(photos)
    page.wait_for_function("[...document.querySelectorAll('#uploads progress')].every(p => p.value === 100)")
    page.wait_for_function(
        f"document.querySelectorAll('#uploads .upload-item[data-status=done]').length === {len(photos)}",
        timeout=FIRST_ANALYSIS_TIMEOUT_S * 1000,
    )
    assert "Analysed" in items.first.inner_text()
    assert page.inner_text("#photo-count") == f"{len(photos)} photos"
    assert page.locator(".grid .tile").count() == len(photos)
    assert page.locator(".grid .empty").count() == 0
    page.wait_for_function(f"document.querySelectorAll('.grid .tile[data-status=done]').length === {len(photos)}")
    assert page.locator(".grid .tile .badge").count() == 0  # no "Pending" left on a finished photo
    assert misshapen_images(page, ".grid .tile img, #uploads img") == []
    snap(page, "upload")
    assert Image.objects.filter(owner__username="alice", analysis_status=AnalysisStatus.DONE).count() == len(photos)

    # The same photo again is not stored twice: the page says so and links to it.
    page.set_input_files("#upload-form input[type=file]", photos[:1])
    duplicate = page.locator("#uploads .upload-item .duplicate")
    duplicate.wait_for()
    assert "Already in your gallery" in duplicate.inner_text()
    assert Image.objects.filter(owner__username="alice").count() == len(photos)

    # The grid shows saliency-cropped thumbnails, never the full-size photos.
    assert full_size_requests(page, page.reload) == []
    assert page.locator(".grid .tile").count() == len(photos)
    assert page.inner_text("#photo-count") == f"{len(photos)} photos"  # what the live grid said
    assert misshapen_images(page, ".grid .tile img") == []
    assert all("/thumbnail/square.jpg" in src for src in page.locator(".grid .tile img").evaluate_all(
        "imgs => imgs.map(i => i.getAttribute('src'))"))
    assert_images_have_alt_text(page)
    snap(page, "my-photos")

    # A photo: the heat map is on from the start, with its legend; off, it stays off across a
    # reload (the choice is remembered), and so does the opacity; the crop box.
    page.locator(".grid .tile a").first.click()
    page.wait_for_selector(".status-done")
    overlay = page.locator("#overlay")
    assert page.is_checked("#overlay-toggle") and overlay.is_visible()
    assert heat_map_coverage(page, "#overlay") > 0.02  # a heat map drawn, not a blank image
    assert box_size(page, "#overlay") == box_size(page, "#stage img.base")  # laid exactly over it
    assert "Where the eye lands first" in page.inner_text(".controls .legend")
    page.uncheck("#overlay-toggle")
    assert overlay.is_hidden()
    page.reload()
    assert not page.is_checked("#overlay-toggle") and page.locator("#overlay").is_hidden()
    page.locator("#overlay-opacity").fill("40")  # moving the slider turns the heat map back on
    assert page.is_checked("#overlay-toggle") and overlay.is_visible()
    assert page.eval_on_selector("#overlay", "el => el.style.opacity") == "0.4"
    page.reload()
    assert page.is_checked("#overlay-toggle") and page.input_value("#overlay-opacity") == "40"
    assert page.eval_on_selector("#overlay", "el => el.style.opacity") == "0.4"
    page.locator("#overlay-opacity").fill("100")
    page.check("#crop-toggle")
    assert page.locator("#crop-box").is_visible()
    assert page.locator(".facts").inner_text().count("×") == 1  # size shown

    # Similar photos, each with its overlay, similarity and what matched.
    tiles = page.locator(".similar .similar-tile")
    assert tiles.count() == len(photos) - 1
    assert tiles.first.get_attribute("data-match") in ("whole", "crop")
    assert "match" in tiles.first.locator(".match").inner_text()
    # Result tiles show their heat maps by default too, lined up with the square thumbnail;
    # switched off, they stay off across a reload.
    assert page.is_checked(".overlay-all")
    assert heat_map_coverage(page, ".similar .similar-tile .overlay") > 0.02
    assert box_size(page, ".similar-tile .overlay") == box_size(page, ".similar-tile img.base")
    assert misshapen_images(page, ".similar-tile img") == []
    page.uncheck(".overlay-all")
    assert page.locator(".similar .similar-tile .overlay").first.is_hidden()
    page.reload()
    assert not page.is_checked(".overlay-all") and page.locator(".similar-tile .overlay").first.is_hidden()
    page.check(".overlay-all")
    page.reload()
    assert page.is_checked(".overlay-all") and page.locator(".similar-tile .overlay").first.is_visible()
    assert page.is_checked("#crop-toggle") and page.locator("#crop-box").is_visible()  # remembered too
    assert_images_have_alt_text(page)
    snap(page, "photo")
    photo_url = page.url
    tiles.first.locator("a").click()
    page.wait_for_selector("article.photo")
    assert page.url != photo_url

    # Search with a region chosen by keyboard alone: arrows move the box, Shift+arrows resize it,
    # Enter searches.
    page.goto(photo_url)
    page.focus("#region-start")
    page.keyboard.press("Enter")
    assert page.evaluate("document.activeElement.id") == "region"
    before = page.input_value("#region-form input[name=left]")
    page.keyboard.press("ArrowRight")
    page.keyboard.press("Shift+ArrowDown")
    assert page.input_value("#region-form input[name=left]") != before
    page.keyboard.press("Enter")
    page.wait_for_url("**/search/*/")
    page.wait_for_selector(".similar-grid .similar-tile", timeout=60_000)

    # Search with a drawn region.
    page.goto(photo_url)
    page.click("#region-start")
    box = page.locator("#stage img.base").bounding_box()
    page.mouse.move(box["x"] + box["width"] * 0.2, box["y"] + box["height"] * 0.2)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] * 0.7, box["y"] + box["height"] * 0.8, steps=5)
    page.mouse.up()
    left, right = (int(page.input_value(f"#region-form input[name={side}]")) for side in ("left", "right"))
    assert right > left
    page.click("#region-submit")
    page.wait_for_url("**/search/*/")
    page.wait_for_selector(".similar-grid .similar-tile", timeout=60_000)
    assert "Photos like this region" in page.inner_text("h1")
    region_results = page.locator(".similar-tile").count()
    assert 1 <= region_results <= len(photos) - 1  # the photo it was drawn on is left out
    assert heat_map_coverage(page, ".similar-tile .overlay") > 0.02  # results arrive with heat maps on
    snap(page, "region-search")

    # Search with an outside photo: it is not added to the gallery.
    page.click("header nav >> text=Search by photo")
    page.wait_for_url("**/search/")  # loaded, scripts included: choosing a file then submits at once
    page.set_input_files("#search-form input[type=file]", outside)  # choosing it starts the search
    page.wait_for_url("**/search/*/")
    page.wait_for_selector(".similar-grid .similar-tile", timeout=60_000)
    assert page.locator(".similar-tile").count() == len(photos)
    assert heat_map_coverage(page, ".similar-tile .overlay") > 0.02
    assert Image.objects.filter(owner__username="alice").count() == len(photos)

    # ...or pasted (Ctrl+V of a copied image arrives as a paste event carrying a file).
    page.goto(f"{live_server.url}/search/")
    thumbnail = Image.objects.filter(owner__username="alice").first().thumbnail_url()
    page.evaluate("""async (url) => {
        const blob = await (await fetch(url)).blob();
        const transfer = new DataTransfer();
        transfer.items.add(new File([blob], "pasted.jpg", {type: "image/jpeg"}));
        document.dispatchEvent(new ClipboardEvent("paste", {clipboardData: transfer}));
    }""", thumbnail)
    page.wait_for_url("**/search/*/")
    page.wait_for_selector(".similar-grid .similar-tile", timeout=60_000)

    # An album, with its cover chosen by saliency.
    page.goto(photo_url)
    page.fill("#album-new", "Garden")
    page.click(".add-album button[type=submit]")
    page.wait_for_selector("text=Added to")
    page.click("text=Garden")
    page.wait_for_selector("h1:has-text('Garden')")
    assert page.locator(".grid .tile").count() == 1
    page.click("header nav >> text=Albums")
    card = page.locator(".album-card")
    assert card.count() == 1 and "1 photo" in card.inner_text()
    assert "/thumbnail/wide.jpg" in card.locator("img").get_attribute("src")
    # The cover is the 4:3 saliency crop, shown whole at every width (not cropped again).
    for viewport in ({"width": 1280, "height": 800}, {"width": 390, "height": 844}, {"width": 360, "height": 740}):
        page.set_viewport_size(viewport)
        width, height = box_size(page, ".album-card img")
        assert abs(width / height - 4 / 3) < 0.01, (viewport, width, height)
        assert misshapen_images(page, ".album-card img") == []
    page.set_viewport_size({"width": 1280, "height": 800})
    assert_images_have_alt_text(page)
    snap(page, "albums")

    # Make the photo public; another user sees it on Explore, and only it.
    page.goto(photo_url)
    page.click("#edit summary")
    page.select_option("#id_visibility", "public")
    page.click("#edit button[type=submit]")
    page.wait_for_selector("text=Saved.")
    public_title = page.inner_text(".photo-info h1")

    other = browser.new_context(viewport={"width": 360, "height": 740}, bypass_csp=True)
    bob = other.new_page()
    bob.set_default_timeout(20_000)
    sign_up(bob, live_server.url, "bob")
    # On a phone the header still says who is signed in, not only the avatar's letter.
    for viewport in ({"width": 390, "height": 844}, {"width": 360, "height": 740}):
        bob.set_viewport_size(viewport)
        name = bob.locator("header .nav-username")
        assert name.is_visible() and name.inner_text() == "bob"
        width, height = box_size(bob, "header .nav-username")
        assert width >= 20 and height >= 12, (viewport, width, height)
    bob.click("header nav >> text=Explore")
    assert bob.locator(".grid .tile").count() == 1
    assert public_title in bob.inner_text(".grid .tile")
    assert full_size_requests(bob, bob.reload) == []
    assert_images_have_alt_text(bob)
    snap(bob, "explore")
    bob.locator(".grid .tile a").click()
    bob.wait_for_selector("article.photo")
    assert bob.locator("#edit").count() == 0  # not the owner: no editing
    assert bob.locator(".similar-tile").count() == 0  # alice's other photos are private
    other.close()

    # Delete a photo, after confirming.
    page.goto(photo_url)
    page.click("form[data-confirm] button.danger")
    page.wait_for_selector("#confirm-dialog[open]")
    page.click("#confirm-dialog button[value=ok]")
    page.wait_for_url("**/mine/")
    assert page.locator(".grid .tile").count() == len(photos) - 1
    assert Image.objects.filter(owner__username="alice").count() == len(photos) - 1
    context.close()


def test_a_small_photo_is_scaled_up_smoothly_to_the_page_not_shown_tiny(live_server, browser, django_user_model):
    """A 320-px photo fills the photo column (at most 2.5 times its pixels) with the browser's
    smooth interpolation, at desktop and phone width, keeping its shape."""
    context = browser.new_context(viewport={"width": 1280, "height": 800}, bypass_csp=True)  # see conftest.page
    page = context.new_page()
    sign_up(page, live_server.url, "carol")
    small = services.image_create(owner=django_user_model.objects.get(username="carol"),
                                  data=scene_photo(7, size=(320, 240)), filename="small.jpg", title="small")
    page.goto(f"{live_server.url}{small.get_absolute_url()}")
    page.wait_for_function("document.querySelector('#stage img.base').naturalWidth > 0")
    for viewport in ({"width": 1280, "height": 800}, {"width": 390, "height": 844}):
        page.set_viewport_size(viewport)
        page.wait_for_timeout(150)  # let the layout settle at the new width
        width, height = box_size(page, "#stage img.base")
        column = page.eval_on_selector(".photo-main", "el => el.clientWidth")
        expected = min(column, 0.75 * viewport["height"] * 4 / 3, 2.5 * 320)
        assert abs(width - expected) <= 1, (viewport, width, column)
        assert abs(width / height - 4 / 3) < 0.01, (viewport, width, height)
        assert page.eval_on_selector("#stage img.base", "el => getComputedStyle(el).imageRendering") == "auto"
        overflow = page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
        assert overflow <= 0
    page.set_viewport_size({"width": 1280, "height": 800})
    assert box_size(page, "#stage img.base")[0] >= 2 * 320  # not left at its own 320 px
    context.close()
