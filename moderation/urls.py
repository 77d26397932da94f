from django.urls import path

from . import views

# The Space's report link (`/s/<slug>/report/`, name `space_report`) is routed in rooms/urls.py,
# next to the public page it belongs to.
urlpatterns = [
    path("u/<str:username>/report/", views.report_person, name="report_person"),
    path("u/<str:username>/block/", views.person_block, name="person_block"),
    path("u/<str:username>/unblock/", views.person_unblock, name="person_unblock"),
]
