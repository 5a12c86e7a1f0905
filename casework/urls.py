from django.urls import path

from casework import views

app_name = "casework"

urlpatterns = [
    path("", views.case_list, name="case_list"),
    path("login/code/", views.totp_verify, name="totp_verify"),
    path("login/code/setup/", views.totp_enrol, name="totp_enrol"),
    path("cases/new/", views.case_create, name="case_create"),
    path("cases/<int:case_id>/", views.case_detail, name="case_detail"),
    path("cases/<int:case_id>/search/", views.case_search, name="case_search"),
    path("cases/<int:case_id>/consent/withdraw/", views.case_consent_withdraw, name="case_consent_withdraw"),
    path("cases/<int:case_id>/audit/", views.case_audit, name="case_audit"),
    path("cases/<int:case_id>/documents/", views.document_list_partial, name="document_list"),
    path("cases/<int:case_id>/documents/upload/", views.document_upload, name="document_upload"),
    path("cases/<int:case_id>/documents/<int:document_id>/", views.document_detail, name="document_detail"),
    path(
        "cases/<int:case_id>/documents/<int:document_id>/file/",
        views.document_download,
        name="document_download",
    ),
    path("cases/<int:case_id>/documents/<int:document_id>/retry/", views.document_retry, name="document_retry"),
    path("cases/<int:case_id>/documents/<int:document_id>/remove/", views.document_remove, name="document_remove"),
]
