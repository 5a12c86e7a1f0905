from django.urls import path

from llmops import views

app_name = "llmops"

urlpatterns = [
    path("", views.dashboard, name="dashboard"),
    path("hangs/", views.hangs, name="hangs"),
    path("models/", views.model_list, name="model_list"),
    path("models/<int:model_id>/unload/", views.model_unload, name="model_unload"),
    path("models/<int:model_id>/reset-circuit/", views.model_reset_circuit, name="model_reset_circuit"),
    path("hosts/<int:host_id>/restart/", views.host_restart, name="host_restart"),
]
