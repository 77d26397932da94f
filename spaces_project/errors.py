"""The 500 handler: an outage of the database gets a friendly 503 instead of a server error.

Called by Django for any uncaught exception (in a view or a middleware), inside the `except`, so
the exception is at hand. The page is rendered without the request: context processors would
ask the database for the signed-in user.
"""

import sys

from django.db import DatabaseError, InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse, HttpResponseServerError
from django.template import loader
from django.views.defaults import server_error as default_server_error

RETRY_AFTER_SECONDS = 5


def server_error(request: HttpRequest) -> HttpResponse:
    error = sys.exc_info()[1]
    if isinstance(error, OperationalError | InterfaceError) or (
        isinstance(error, DatabaseError) and "connection" in str(error).lower()
    ):
        response = HttpResponse(loader.render_to_string("503.html"), status=503)
        response["Retry-After"] = str(RETRY_AFTER_SECONDS)
        return response
    try:
        return default_server_error(request)
    except Exception:
        return HttpResponseServerError("Server error")
