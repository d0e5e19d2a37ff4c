"""`stinger ui`: a web page to define a test (a form or a pasted spec), start it, follow it live, change
its rate or users while it runs, stop it, and browse the runs of a directory (reports, compare, files).

A layer of its own below the CLI: `cli/ui.py` hands it the CLI's own check of a run's arguments (so
a form's mistake is the CLI's one line, word for word), and every run it starts is the `stinger run`
command in a subprocess (`--control -` to steer it, `--dashboard 0` for its live state), so a run
started here leaves the same run directory as one started in a terminal. One run at a time.

    guard.py    who may ask what: the Host header, the token, POST for every change (security)
    form.py     the form's fields -> `stinger run` arguments (the CLI's own flags)
    runner.py   the one run in progress: its process, its live state, its load changes, its stop
    runs.py     the runs directory: listed, a run's files served by exact name, two runs compared
    app.py      the Starlette app: the routes, and the page (page.html: no script or style from elsewhere)
"""
