"""`python -m spaces_project.serve` (what `make run` starts) gives daphne a crowd's settings:
a listen backlog, a long handshake timeout, the open-file limit; daphne's own options win."""

import resource

from spaces_project import serve


def test_daphne_gets_the_backlog_and_the_timeouts():
    argv = serve.daphne_arguments(
        ["-b", "127.0.0.1", "-p", "8000", "spaces_project.asgi:application"], environ={}
    )
    assert argv[-1] == "spaces_project.asgi:application"
    assert ["-e", "tcp:port=8000:interface=127.0.0.1:backlog=4096"] == argv[0:2]
    assert argv[argv.index("--websocket_connect_timeout") + 1] == "60"
    assert argv[argv.index("--websocket_timeout") + 1] == "86400"


def test_given_options_and_the_environment_win():
    argv = serve.daphne_arguments(
        ["--websocket_connect_timeout", "30", "-b", "::1", "-p", "9000", "--proxy-headers"],
        environ={"SPACES_LISTEN_BACKLOG": "512"},
    )
    assert argv.count("--websocket_connect_timeout") == 1
    assert argv[argv.index("--websocket_connect_timeout") + 1] == "30"
    assert "tcp:port=9000:interface=\\:\\:1:backlog=512" in argv
    assert argv[-1] == serve.DEFAULT_APPLICATION and "--proxy-headers" in argv


def test_the_open_file_limit_is_raised_to_the_hard_one():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    try:
        if soft == hard and hard > 1024:
            resource.setrlimit(resource.RLIMIT_NOFILE, (1024, hard))
        assert serve.raise_open_files() == hard
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
