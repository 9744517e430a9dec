"""No views: the tests resolve no URLs, but error reports look the request up."""

from typing import Any

urlpatterns: list[Any] = []
