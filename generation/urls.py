from django.urls import path

from generation import views

app_name = "generation"

urlpatterns = [
    path("cases/<int:case_id>/runs/", views.run_start, name="run_start"),
    path("cases/<int:case_id>/runs/<int:run_id>/", views.run_detail, name="run_detail"),
    path("cases/<int:case_id>/runs/<int:run_id>/edit/", views.run_edit, name="run_edit"),
    path(
        "cases/<int:case_id>/runs/<int:run_id>/versions/<int:number>/approve/",
        views.version_approve,
        name="version_approve",
    ),
    path(
        "cases/<int:case_id>/runs/<int:run_id>/versions/<int:number>/docx/",
        views.version_export,
        name="version_export",
    ),
]
