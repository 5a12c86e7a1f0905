from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from llmops import views as llmops_views

urlpatterns = [
    path("login/", auth_views.LoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("ops/", include("llmops.urls")),
    path("metrics", llmops_views.metrics, name="metrics"),
    path("admin/", admin.site.urls),
    path("", include("generation.urls")),
    path("", include("casework.urls")),
]
