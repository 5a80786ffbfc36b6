"""gallery.platform.routes.reverse_uuid gives reverse()'s URL, wherever the routes and the site are."""

from __future__ import annotations

import uuid

import pytest
from django.urls import reverse, set_script_prefix

from gallery.platform.routes import reverse_uuid


@pytest.mark.parametrize("viewname", ["gallery:photo", "gallery:overlay", "gallery:file", "search:photo_similar"])
def test_same_as_reverse(viewname, settings):
    value = uuid.uuid4()
    assert reverse_uuid(viewname, value) == reverse(viewname, args=[value])
    settings.ROOT_URLCONF = "tests.gallery.moved_urls"  # the gallery's pages moved under /pictures/
    assert reverse_uuid(viewname, value) == reverse(viewname, args=[value])
    set_script_prefix("/site/")  # served under a path (SCRIPT_NAME)
    try:
        assert reverse_uuid(viewname, value) == reverse(viewname, args=[value])
        assert reverse_uuid(viewname, value).startswith("/site/")
    finally:
        set_script_prefix("/")


def test_a_value_that_is_not_a_uuid_goes_to_reverse():
    assert reverse_uuid("gallery:photo", str(uuid.UUID(int=1))) == reverse("gallery:photo", args=[uuid.UUID(int=1)])
