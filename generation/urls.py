from django.urls import path

from generation import views

app_name = "generation"

_RUN = "cases/<int:case_id>/runs/<int:run_id>/"
_VERSION = _RUN + "versions/<int:number>/"

urlpatterns = [
    path("cases/<int:case_id>/runs/", views.run_start, name="run_start"),
    path(_RUN, views.run_detail, name="run_detail"),
    path(_RUN + "progress/", views.run_progress, name="run_progress"),
    path(_RUN + "edit/", views.run_edit, name="run_edit"),
    path(_RUN + "compare/", views.version_compare, name="version_compare"),
    path(_RUN + "comments/", views.comment_add, name="comment_add"),
    path(_RUN + "sections/<slug:key>/edit/", views.section_edit, name="section_edit"),
    path(_RUN + "sections/<slug:key>/regenerate/", views.section_regenerate, name="section_regenerate"),
    path(
        _VERSION + "sections/<slug:key>/sentences/<int:index>/",
        views.sentence_evidence,
        name="sentence_evidence",
    ),
    path(_VERSION + "sections/<slug:key>/sentences/<int:index>/accept/", views.sentence_accept, name="sentence_accept"),
    path(_VERSION + "sections/<slug:key>/sentences/<int:index>/remove/", views.sentence_remove, name="sentence_remove"),
    path(_VERSION + "approve/", views.version_approve, name="version_approve"),
    path(_VERSION + "docx/", views.version_export, name="version_export"),
    path(_VERSION + "pdf/", views.version_export_pdf, name="version_export_pdf"),
]
