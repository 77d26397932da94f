"""`python -m spaces_project.serve [daphne options] [application]`: daphne, set up for a crowd.

What `make run` starts (scripts/run.sh), and what to run in production, one per process. It
takes daphne's own options and adds what a storm of 10,000 sockets joining one process needs
(docs/benchmarks.md, "Signaling"):
- open files: the soft limit raised to the hard one (one descriptor per socket);
- a listen backlog of SPACES_LISTEN_BACKLOG (4096) instead of Twisted's 50, so a burst of
  connections waits in the kernel instead of being dropped and retried;
- the WebSocket handshake timeout (daphne's `--websocket_connect_timeout`, which daphne 4 uses
  for the handshake too) at SPACES_WEBSOCKET_HANDSHAKE_TIMEOUT (60 s) unless given: a crowd's
  handshakes queue behind each other, and daphne's 5 s default turned one storm into thousands
  of failed attempts;
- garbage collection: the objects loaded at start-up (Django, the project, every library) are
  frozen out of the collector's view (`gc.freeze()`), and the first generation is collected
  every 20,000 allocations instead of 700, so the collector's passes over a crowd's objects
  are rarer (the hub freezes again once a process holds many sockets).
"""

import gc
import os
import resource
import sys

DEFAULT_APPLICATION = "spaces_project.asgi:application"
GC_THRESHOLDS = (20_000, 10, 10)


def raise_open_files() -> int:
    """Raise the soft limit of open files to the hard one; returns the new soft limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def _take(argv: list[str], *names: str) -> str | None:
    """Remove `--name value` or `--name=value` (any of `names`) from argv; its value."""
    for index, arg in enumerate(argv):
        for name in names:
            if arg == name and index + 1 < len(argv):
                value = argv[index + 1]
                del argv[index : index + 2]
                return value
            if arg.startswith(name + "="):
                del argv[index]
                return arg.split("=", 1)[1]
    return None


def daphne_arguments(argv: list[str], environ: dict[str, str] | None = None) -> list[str]:
    """daphne's command line with this project's defaults added (see the module docstring)."""
    from daphne.endpoints import build_endpoint_description_strings

    environ = os.environ if environ is None else environ
    argv = list(argv)
    application = DEFAULT_APPLICATION
    # The application is the last argument, `module:attribute` (an address or an endpoint
    # given last has a colon too, but follows its option).
    addressed = len(argv) >= 2 and argv[-2] in ("-b", "--bind", "-e", "--endpoint", "-u")
    if argv and ":" in argv[-1] and not argv[-1].startswith("-") and not addressed:
        application = argv.pop()
    backlog = int(environ.get("SPACES_LISTEN_BACKLOG", "4096"))
    host = _take(argv, "-b", "--bind")
    port = _take(argv, "-p", "--port")
    if host is not None or port is not None:
        for endpoint in build_endpoint_description_strings(
            host=host or "127.0.0.1", port=int(port or 8000)
        ):
            argv += ["-e", f"{endpoint}:backlog={backlog}"]
    if not any(arg.startswith("--websocket_connect_timeout") for arg in argv):
        timeout = environ.get("SPACES_WEBSOCKET_HANDSHAKE_TIMEOUT", "60")
        argv += ["--websocket_connect_timeout", timeout]
    if not any(arg.startswith("--websocket_timeout") for arg in argv):
        argv += ["--websocket_timeout", "86400"]  # a Space lasts hours; the page reconnects
    return [*argv, application]


def main(argv: list[str] | None = None) -> None:
    argv = daphne_arguments(sys.argv[1:] if argv is None else argv)
    raise_open_files()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "spaces_project.settings.local")
    # Load the application (Django, the project) before daphne does, then freeze what is
    # loaded: the collector never walks those objects again.
    module = argv[-1].split(":", 1)[0]
    __import__(module)
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)
    from daphne.cli import CommandLineInterface

    CommandLineInterface().run(argv)


if __name__ == "__main__":
    main()
