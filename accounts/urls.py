from django.urls import path

from . import views

urlpatterns = [
    path("profile/", views.profile_edit, name="profile_edit"),
    path("notifications/", views.notifications, name="notifications"),
    path("push/subscription/", views.push_subscription, name="push_subscription"),
    path("u/<str:username>/", views.profile_detail, name="profile_detail"),
    path("u/<str:username>/follow/", views.person_follow, name="person_follow"),
    path("u/<str:username>/followers/", views.person_followers, name="person_followers"),
    path("u/<str:username>/following/", views.person_following, name="person_following"),
]
