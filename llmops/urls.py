from django.urls import path

from llmops import views

app_name = "llmops"

urlpatterns = [
    path("", views.dashboard, name="dashboard"),
]
