"""The admin's URLs; error reports look the request up here too."""

from typing import Any

from django.contrib import admin
from django.urls import path

urlpatterns: list[Any] = [path("admin/", admin.site.urls)]
