"""Every URL the project serves, asked by every kind of visitor: nobody reaches what is not theirs.

The routes are read from Django's resolver when the tests run, so a new page, API endpoint or
admin screen is covered the moment it exists: until it has an entry in ACCESS below (how to fill
its parameters and what each kind of visitor must get), its test fails and says so.

Visitors: ``anonymous``; ``owner`` of the photos; ``other``, a signed-in stranger; ``staff``, a
site administrator (superuser); ``clerk``, staff without any permission (the admin lets them in
and must then refuse them every screen with data). Besides the status code, no answer to anyone but the owner may
contain the private photo's id or title (staff excepted on admin screens, which list everything).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import urlparse

import pytest
from django.contrib import admin
from django.contrib.auth.models import User
from django.contrib.contenttypes.models import ContentType
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client, RequestFactory
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from tests.conftest import photo_bytes
from tests.security.world import PRIVATE_TITLE, World, world_build

pytestmark = pytest.mark.django_db

# The owner goes last: its POSTs may delete the photo.
ROLES = ("anonymous", "other", "clerk", "staff", "owner")
LOGIN = "redirect to a login page"
API_DENIED = (401, 403)  # DRF: 401 with a WWW-Authenticate scheme, else 403


@dataclass(frozen=True)
class Case:
    """One request to a route and what each visitor must get: a status, a tuple of them, or LOGIN."""

    anonymous: object
    other: object
    staff: object
    owner: object
    kwargs: Callable[[World], dict] = lambda world: {}
    query: Callable[[World], str] | None = None  # a query string, without the "?"
    headers: dict = field(default_factory=dict)  # extra request headers, as HTTP_* keys
    method: str = "get"
    data: Callable[[World], dict] | None = None
    json: bool = False
    staff_sees_all: bool = False  # admin screens list every photo to staff, by design
    # Staff without any permission: like "other" on the site; refused (403) on admin screens.
    clerk: object = None

    def expected(self, role: str, world: World) -> object:
        expected = getattr(self, role)
        if role == "clerk" and expected is None:
            expected = 403 if self.staff_sees_all else self.other
        return expected(world) if callable(expected) else expected


def everyone(status: int = 200, **options) -> Case:
    return Case(status, status, status, status, **options)


def private_photo(**options) -> Case:
    """Only the owner; everyone else gets 404 (a private photo's existence is private too)."""
    return Case(404, 404, 404, 200, kwargs=lambda w: {"image_id": w.private.id}, **options)


def public_photo(**options) -> Case:
    return everyone(200, kwargs=lambda w: {"image_id": w.public.id}, **options)


def photo_read(**options) -> list[Case]:
    return [private_photo(**options), public_photo(**options)]


def owner_post(status: int, data: Callable[[World], dict] | None = None) -> list[Case]:
    """A change to a photo by POST: login first, then only its owner, for private and public alike."""
    return [Case(LOGIN, 404, 404, status, kwargs=lambda w, v=visibility: {"image_id": getattr(w, v).id},
                 method="post", data=data) for visibility in ("private", "public")]


def api_owned(method: str, status: int, data: Callable[[World], dict] | None = None) -> list[Case]:
    return [Case(API_DENIED, 404, 404, status, kwargs=lambda w, v=visibility: {"image_id": getattr(w, v).id},
                 method=method, data=data, json=True) for visibility in ("private", "public")]


def signed_in(status: int = 200, **options) -> Case:
    return Case(LOGIN, status, status, status, **options)


def staff_only(status: int = 200, non_staff: object = LOGIN, **options) -> Case:
    return Case(non_staff, non_staff, status, non_staff, staff_sees_all=True, **options)


def owner_query(status: int = 200) -> Case:
    """A search is seen only by the person who made it."""
    return Case(LOGIN, 404, 404, status, kwargs=lambda w: {"query_id": w.region_query.id})


def owner_album(status: int = 200, **options) -> Case:
    return Case(LOGIN, 404, 404, status, kwargs=lambda w: {"album_id": w.album.id}, **options)


def region(world: World) -> dict:
    return {"left": 0, "top": 0, "right": 20, "bottom": 20}


def api_signed_in(status: int, **options) -> Case:
    return Case(API_DENIED, status, status, status, **options)


def api_photo_read(**extra) -> list[Case]:
    """Read access through the API: as on the pages, a private photo is only its owner's."""
    return [Case(404, 404, 404, 200, kwargs=lambda w: {"photo_id": w.private.id, **extra}),
            everyone(200, kwargs=lambda w: {"photo_id": w.public.id, **extra})]


def api_owner_album(status: int, **options) -> Case:
    return Case(API_DENIED, 404, 404, status, kwargs=lambda w: {"album_id": w.album.id}, **options)


def first_version(world: World) -> dict:
    from inference.models import ModelVersion

    version = ModelVersion.objects.order_by("pk").first()
    assert version is not None, "the world has no model version to act on"
    return {"version_id": version.pk}


def upload_form(world: World) -> dict:
    return {"files": SimpleUploadedFile("new.jpg", photo_bytes(99), content_type="image/jpeg"),
            "visibility": "private"}


# Route name (or, for an unnamed route, its pattern) -> the requests to make.
ACCESS: dict[str, list[Case]] = {
    # --- pages ---
    "favicon": [everyone(302)],
    "gallery:explore": [everyone(200)],
    "gallery:mine": [signed_in(200)],
    "gallery:upload": [signed_in(302, method="post", data=upload_form)],
    "gallery:photo": photo_read(),
    "gallery:photo_status": photo_read(),
    "gallery:edit": owner_post(302, data=lambda w: {"title": "renamed", "visibility": "private"}),
    "gallery:delete": owner_post(302),
    "gallery:retry": owner_post(302),
    "signup": [everyone(200)],
    "login": [everyone(200)],
    "logout": [everyone(302, method="post")],
    "gallery:photos_status": [everyone(200, query=lambda w: f"ids={w.private.id},{w.public.id}")],
    "search:photo_similar": photo_read(),
    "search:search_region": [
        Case(LOGIN, 404, 404, 302, kwargs=lambda w: {"image_id": w.private.id}, method="post", data=region),
        Case(LOGIN, 302, 302, 302, kwargs=lambda w: {"image_id": w.public.id}, method="post", data=region),
    ],
    "search:search": [signed_in(200)],
    "search:query": [owner_query()],
    "search:query_results": [owner_query()],
    "search:query_status": [owner_query()],
    "search:query_photo": [Case(LOGIN, 404, 404, 200, kwargs=lambda w: {"query_id": w.photo_query.id})],
    # --- albums ---
    "gallery:albums": [signed_in(200)],
    "gallery:album": [owner_album()],
    "gallery:album_rename": [owner_album(302, method="post", data=lambda w: {"title": "renamed"})],
    "gallery:album_delete": [owner_album(302, method="post")],
    "gallery:album_add_image": owner_post(302, data=lambda w: {"album": w.album.id}),
    "gallery:album_remove_image": [Case(LOGIN, 404, 404, 302, method="post", kwargs=lambda w: {
        "album_id": w.album.id, "image_id": w.private.id})],
    # --- accounts ---
    "profile": [signed_in(200)],
    "account_delete": [signed_in(200)],  # GET: the confirmation page (a POST would delete the account)
    "password_change": [signed_in(200)],
    "password_change_done": [signed_in(200)],
    "password_reset": [everyone(200)],
    "password_reset_done": [everyone(200)],
    "password_reset_confirm": [everyone(200, kwargs=lambda w: {"uidb64": "MQ", "token": "not-a-token"})],
    "password_reset_complete": [everyone(200)],
    # --- media: every file goes through a permission check ---
    "gallery:file": photo_read(),
    "gallery:thumbnail": [
        Case(404, 404, 404, 200, kwargs=lambda w: {"image_id": w.private.id, "name": "square"}),
        everyone(200, kwargs=lambda w: {"image_id": w.public.id, "name": "wide"}),
    ],
    # The uploaded bytes may hold GPS coordinates: the owner's alone, even for a public photo.
    "gallery:original": [
        Case(404, 404, 404, 200, kwargs=lambda w: {"image_id": w.private.id}),
        Case(404, 404, 404, 200, kwargs=lambda w: {"image_id": w.public.id}),
    ],
    "gallery:overlay": photo_read(),
    # --- API v1 (a photo someone may not see is 404, like one that does not exist) ---
    # Without credentials (wrong ones, five times, would lock the name out: django-axes).
    "api:token": [everyone(400, method="post", json=True)],
    "api_token": [everyone(400, method="post", json=True)],
    "api:tokens": [api_signed_in(200)],
    "api:token_detail": [Case(API_DENIED, 404, 404, 204, kwargs=lambda w: {"token_id": w.token_id},
                              method="delete", json=True)],
    "api:photos": [api_signed_in(200)],
    "api:photo": [
        *api_photo_read(),
        # A public photo may be seen but not changed by others: 403 says so.
        Case(API_DENIED, 404, 404, 200, kwargs=lambda w: {"photo_id": w.private.id}, method="patch",
             data=lambda w: {"title": "renamed"}, json=True),
        Case(API_DENIED, 403, 403, 200, kwargs=lambda w: {"photo_id": w.public.id}, method="patch",
             data=lambda w: {"title": "renamed"}, json=True),
        Case(API_DENIED, 404, 404, 204, kwargs=lambda w: {"photo_id": w.private.id}, method="delete", json=True),
        Case(API_DENIED, 403, 403, 204, kwargs=lambda w: {"photo_id": w.public.id}, method="delete", json=True),
    ],
    "api:photo_original": [Case(API_DENIED, 404, 404, 200, kwargs=lambda w, v=v: {"photo_id": getattr(w, v).id})
                           for v in ("private", "public")],
    "api:photo_display": api_photo_read(),
    "api:photo_thumbnail": api_photo_read(name="square"),
    "api:photo_overlay": api_photo_read(),
    "api:photo_similar": api_photo_read(),
    # Only the owner may retry; the world's photos are analysed, so the owner hears 409 (not_retryable).
    "api:photo_retry": [Case(API_DENIED, 404, 404, 409, kwargs=lambda w, v=v: {"photo_id": getattr(w, v).id},
                             method="post", json=True) for v in ("private", "public")],
    "api:public_photos": [everyone(200)],
    "api:albums": [api_signed_in(200)],
    "api:album": [
        api_owner_album(200),
        api_owner_album(200, method="patch", data=lambda w: {"title": "renamed"}, json=True),
        api_owner_album(204, method="delete", json=True),
    ],
    "api:album_photos": [api_owner_album(200, method="post", json=True,
                                         data=lambda w: {"photos": [str(w.private.id)]})],
    "api:album_photo": [Case(API_DENIED, 404, 404, 204, method="delete", json=True, kwargs=lambda w: {
        "album_id": w.album.id, "photo_id": w.private.id})],
    "api:uploads": [api_signed_in(201, method="post", headers={
        "HTTP_TUS_RESUMABLE": "1.0.0", "HTTP_UPLOAD_LENGTH": "1000", "HTTP_UPLOAD_METADATA": "filename eC5qcGc="})],
    "api:upload": [Case(API_DENIED, 404, 404, 200, kwargs=lambda w: {"guid": w.upload_id},
                        headers={"HTTP_TUS_RESUMABLE": "1.0.0"})],
    "api:searches": [
        Case(API_DENIED, 400, 400, 202, method="post", json=True, data=lambda w: {
            "photo": str(w.private.id), "box": {"left": 0, "top": 0, "right": 20, "bottom": 20}}),
        Case(API_DENIED, 202, 202, 202, method="post", json=True, data=lambda w: {
            "photo": str(w.public.id), "box": {"left": 0, "top": 0, "right": 20, "bottom": 20}}),
    ],
    "api:search": [Case(API_DENIED, 404, 404, 200, kwargs=lambda w: {"search_id": w.region_query.id})],
    "api_schema": [everyone(200)],
    "api_docs": [everyone(200)],
    # --- admin (the per-model screens are added by admin_model_access below) ---
    "admin:index": [staff_only(200, clerk=200)],  # "you may not view or edit anything"
    "admin:login": [Case(200, 200, 302, 200, clerk=302)],
    "admin:logout": [everyone(302, method="post")],  # LOGOUT_REDIRECT_URL for staff, the index for others
    "admin:password_change": [staff_only(200, clerk=200)],
    "admin:password_change_done": [staff_only(200, clerk=200)],
    "admin:jsi18n": [staff_only(200, clerk=200)],
    "admin:autocomplete": [staff_only(403)],  # no field given: refused even to staff
    "admin:view_on_site": [staff_only(302, clerk=302, kwargs=lambda w: {
        "content_type_id": ContentType.objects.get_for_model(w.private).id, "object_id": w.private.id})],
    "admin:app_list": [staff_only(200, clerk=404, kwargs=lambda w: {"app_label": "gallery"})],
    "admin:auth_user_password_change": [staff_only(200, kwargs=lambda w: {"id": w.owner.id})],
    "admin/(?P<url>.*)$": [staff_only(404, clerk=404, kwargs=lambda w: {"url": "no-such-screen/"})],
    "admin:gallery_image_thumbnail": [staff_only(200, kwargs=lambda w: {"image_id": w.private.id})],
    "admin:inference_jobs": [staff_only(200)],
    "admin:inference_jobs_retry": [staff_only(302, method="post", kwargs=lambda w: {
        "analysis_id": w.private.analyses.get().id})],
    "admin:inference_jobs_sweep": [staff_only(302, method="post")],
    "admin:inference_modelversion_progress": [staff_only(200)],
    "admin:inference_modelversion_reindex": [staff_only(302, method="post")],
    "admin:inference_modelversion_rollback": [staff_only(302, method="post")],
    "admin:inference_modelversion_activate": [staff_only(302, method="post", kwargs=first_version)],
    "admin:inference_modelversion_prune": [staff_only(302, method="post", kwargs=first_version)],
}


def admin_model_access() -> dict[str, list[Case]]:
    """Every registered ModelAdmin's screens: staff only, on the first row of the model."""
    superuser = User(username="probe", is_superuser=True, is_staff=True, is_active=True)
    request = RequestFactory().get("/admin/")
    request.user = superuser
    access: dict[str, list[Case]] = {}
    for model, model_admin in admin.site._registry.items():
        prefix = f"admin:{model._meta.app_label}_{model._meta.model_name}"

        def first_row(world: World, model=model) -> dict:
            row = model._default_manager.order_by("pk").first()
            return {"object_id": row.pk if row is not None else "0"}

        def shown_or_missing(world: World, model=model) -> int:
            # A missing row sends staff back to the index with a message.
            return 200 if model._default_manager.exists() else 302

        def refused_or_missing(world: World, model=model) -> int:
            # History looks the row up before it checks permissions.
            return 403 if model._default_manager.exists() else 302

        add_status = 200 if model_admin.has_add_permission(request) else 403
        delete_status = 200 if model_admin.has_delete_permission(request) else 403
        access.update({
            f"{prefix}_changelist": [staff_only(200)],
            f"{prefix}_add": [staff_only(add_status)],
            f"{prefix}_change": [staff_only(shown_or_missing, kwargs=first_row)],
            f"{prefix}_history": [staff_only(shown_or_missing, clerk=refused_or_missing, kwargs=first_row)],
            f"{prefix}_delete": [staff_only(delete_status if delete_status == 403 else shown_or_missing,
                                            kwargs=first_row)],
            # The bare object URL redirects to its change screen.
            f"admin/{model._meta.app_label}/{model._meta.model_name}/<path:object_id>/":
                [staff_only(302, clerk=302, kwargs=first_row)],
        })
    return access


@dataclass(frozen=True)
class Route:
    key: str  # "namespace:name", or the full pattern when the route has no name
    pattern: str
    name: str | None = field(default=None)


def routes_served(patterns=None, prefix: str = "", namespace: str = "") -> list[Route]:
    found = []
    for entry in get_resolver().url_patterns if patterns is None else patterns:
        if isinstance(entry, URLResolver):
            inner = namespace + (f"{entry.namespace}:" if entry.namespace else "")
            found += routes_served(entry.url_patterns, prefix + str(entry.pattern), inner)
        elif isinstance(entry, URLPattern):
            pattern = prefix + str(entry.pattern)
            name = namespace + entry.name if entry.name else None
            found.append(Route(key=name or pattern, pattern=pattern, name=name))
    return found


ROUTES = {route.key: route for route in routes_served()}


def access_table() -> dict[str, list[Case]]:
    return {**admin_model_access(), **ACCESS}


def test_the_table_lists_no_route_that_is_gone():
    stale = sorted(set(access_table()) - set(ROUTES))
    assert not stale, f"tests/security/test_route_matrix.py ACCESS lists routes that no longer exist: {stale}"


@pytest.mark.parametrize("key", sorted(ROUTES))
def test_route_gives_each_visitor_only_what_is_theirs(key, django_user_model):
    route = ROUTES[key]
    cases = access_table().get(key)
    if cases is None:
        pytest.fail(f"Route {key!r} ({route.pattern}) is not in ACCESS in tests/security/test_route_matrix.py: "
                    "add how to fill its parameters and what anonymous, owner, other and staff must get.")
    for case in cases:
        world = world_build(django_user_model)  # fresh for each case: the owner's POSTs delete
        kwargs = case.kwargs(world)
        url = reverse(key, kwargs=kwargs) if route.name else "/" + _fill(route.pattern, kwargs)
        if case.query:
            url += "?" + case.query(world)
        for role in ROLES:
            _check(case, role, url, world)
        django_user_model.objects.all().delete()  # cascades to photos, albums, tokens


def _fill(pattern: str, kwargs: dict) -> str:
    import re

    def value(match: re.Match) -> str:
        return str(kwargs[match.group("name")])

    filled = re.sub(r"<(?:\w+:)?(?P<name>\w+)>", value, pattern)
    filled = re.sub(r"\(\?P<(?P<name>\w+)>[^)]*\)", value, filled)
    return filled.lstrip("^").rstrip("$")


def _check(case: Case, role: str, url: str, world: World) -> None:
    client = Client()
    user = world.user(role)
    if user is not None:
        client.force_login(user)
    request = getattr(client, case.method)
    data = case.data(world) if case.data else None
    if case.json:
        response = request(url, data=data or {}, content_type="application/json", **case.headers)
    else:
        response = request(url, data=data, **case.headers) if data is not None else request(url, **case.headers)
    expected = case.expected(role, world)
    where = f"{case.method.upper()} {url} as {role}"
    if expected == LOGIN:
        assert response.status_code == 302, f"{where}: {response.status_code}, expected a redirect to log in"
        login_pages = {reverse("login"), reverse("admin:login")}
        assert urlparse(response["Location"]).path in login_pages, f"{where}: redirected to {response['Location']}"
    else:
        allowed = expected if isinstance(expected, tuple) else (expected,)
        assert response.status_code in allowed, f"{where}: {response.status_code}, expected {expected}"
    if role != "owner" and not (role == "staff" and case.staff_sees_all) and not response.streaming:
        body = response.content.decode(errors="replace")
        assert str(world.private.id) not in body, f"{where}: the private photo's id leaked"
        assert PRIVATE_TITLE not in body, f"{where}: the private photo's title leaked"
