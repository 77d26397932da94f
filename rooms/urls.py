from django.urls import path

from moderation import views as moderation_views

from . import feeds, hls_views, recording_views, replay_views, views

urlpatterns = [
    path("", views.home, name="home"),
    path("my-spaces/", views.my_spaces, name="my_spaces"),
    path("search/", views.search, name="search"),
    path("rooms/new/", views.room_create, name="room_create"),
    path("rooms/<str:slug>/", views.room_detail, name="room_detail"),
    path("rooms/<str:slug>/edit/", views.room_edit, name="room_edit"),
    path("rooms/<str:slug>/cancel/", views.room_cancel, name="room_cancel"),
    path("rooms/<str:slug>/act/", views.room_action, name="room_action"),
    path("rooms/<str:slug>/access/", views.room_access, name="room_access"),
    path("rooms/<str:slug>/insights/", views.room_insights, name="room_insights"),
    path("rooms/<str:slug>/insights.csv", views.room_insights_csv, name="room_insights_csv"),
    # The public link: anyone, no sign-in needed.
    path("s/<str:slug>/", views.space_public, name="space_public"),
    path("s/<str:slug>/event.ics", views.space_calendar, name="space_calendar"),
    path("s/<str:slug>/remind/", views.space_remind, name="space_remind"),
    path("s/<str:slug>/ask/", views.space_ask, name="space_ask"),
    # Links that unfurl: the card picture, the embeddable player, oEmbed.
    path("s/<str:slug>/card.png", views.space_card, name="space_card"),
    path("s/<str:slug>/embed/", views.space_embed, name="space_embed"),
    path("oembed/", views.oembed, name="oembed"),
    # The live HLS stream (rooms/hls_views.py): players past WebRTC, through HTTP caches.
    path("s/<str:slug>/hls/live.m3u8", hls_views.live_playlist, name="space_live_playlist"),
    path("s/<str:slug>/hls/<str:name>", hls_views.live_segment, name="space_live_segment"),
    # The replay and clips (rooms/recording_views.py): visibility and state asked every time.
    path(
        "s/<str:slug>/replay/replay.m3u8",
        recording_views.replay_playlist,
        name="space_replay_playlist",
    ),
    path("s/<str:slug>/replay/audio.m4a", recording_views.replay_audio, name="space_replay_audio"),
    path(
        "s/<str:slug>/replay/<str:name>",
        recording_views.replay_segment,
        name="space_replay_segment",
    ),
    path("c/<str:slug>/audio.m4a", recording_views.clip_audio, name="clip_audio"),
    path(
        "s/<str:slug>/recording/delete/",
        replay_views.recording_delete,
        name="recording_delete",
    ),
    path("s/<str:slug>/plays/", replay_views.replay_play, name="replay_play"),
    path("s/<str:slug>/embed/plays/", replay_views.embed_play, name="embed_play"),
    path("s/<str:slug>/clips/", replay_views.clip_create, name="clip_create"),
    path("c/<str:slug>/", replay_views.clip_page, name="clip_page"),
    path("c/<str:slug>/status/", replay_views.clip_status, name="clip_status"),
    path("c/<str:slug>/play/", replay_views.clip_play, name="clip_play"),
    # A host's recorded Spaces as a podcast feed.
    path("u/<str:username>/feed.xml", feeds.host_feed, name="host_feed"),
    # Reports about a Space, a post or a person in it are taken by the moderation app.
    path("s/<str:slug>/report/", moderation_views.report_space, name="space_report"),
]
