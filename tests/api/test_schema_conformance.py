"""Property-based run of schemathesis against the live schema (/api/schema/), in process (WSGI).

Every documented operation is called with generated valid and invalid input, signed in with a
real token, against a gallery that holds photos of two users. No answer may be a server error,
and every answer (status, content type, headers, body) must be one the schema describes.
"""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from gallery.models import Visibility

# tus PATCH bodies are raw bytes, as for application/octet-stream.
schemathesis.serializer.alias("application/offset+octet-stream", "application/octet-stream")

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_headers_conformance,
          response_schema_conformance]
# Bounded so the whole run stays well under a minute on a small CI machine.
EXAMPLES_PER_OPERATION = 30


@pytest.fixture
def api_schema(db):
    from django.core.signals import request_finished, request_started
    from django.db import close_old_connections

    from gallery.config.wsgi import application

    # Calls go through Django's real WSGI handler, which closes the database connection at the end
    # of each request; that would end the test's transaction. Django's test client does the same.
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield schemathesis.openapi.from_wsgi("/api/schema/", application)
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@pytest.fixture
def auth_headers(make_user, make_photo, client_for, settings):
    # Generated requests are many; the throttles are tested elsewhere (and 429 is in the schema).
    settings.API_THROTTLE_RATES = dict.fromkeys(settings.API_THROTTLE_RATES, "100000/minute")
    me, other = make_user("fuzzer"), make_user("other")
    for visibility in (Visibility.PUBLIC, Visibility.PRIVATE):
        make_photo(me, visibility=visibility)
        make_photo(other, visibility=visibility)
    from knox.models import AuthToken

    _, token = AuthToken.objects.create(user=me)
    return {"Authorization": f"Token {token}"}


def test_every_operation_answers_as_documented(api_schema, auth_headers, django_capture_on_commit_callbacks):
    # One hypothesis run per operation and generation mode (schemathesis's pytest plugin is not
    # used: its lazy-fixture loader does not run on pytest 9); every failure is reported at the end.
    failures, operations = [], 0
    for result in api_schema.get_all_operations():
        operation = result.ok()
        operations += 1
        for mode in (schemathesis.GenerationMode.POSITIVE, schemathesis.GenerationMode.NEGATIVE):

            @given(case=operation.as_strategy(generation_mode=mode))
            @settings(max_examples=EXAMPLES_PER_OPERATION, deadline=None, derandomize=True, database=None,
                      suppress_health_check=list(HealthCheck))
            def call(case):
                with django_capture_on_commit_callbacks(execute=False):  # nothing reaches the worker queue
                    case.call_and_validate(headers=auth_headers, checks=CHECKS)

            try:
                call()
            except Unsatisfiable:
                assert mode == schemathesis.GenerationMode.NEGATIVE  # nothing in it can be made invalid
            except Exception as exc:  # noqa: BLE001 - collected, then reported together
                failures.append(f"{operation.label} ({mode.value}): {exc}")
    assert operations >= 25, operations  # the whole API was exercised, not an empty schema
    assert not failures, "\n\n".join(failures)
