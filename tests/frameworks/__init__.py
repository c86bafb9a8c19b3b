"""Tests against the real frameworks and servers (Flask + werkzeug, FastAPI + uvicorn, Django, gunicorn).

Skipped, with the command to install them, when the packages are absent, so
``python -m tests`` still needs only hypothesis. ``.ci/run`` installs the
pinned versions of requirements.txt into a venv of its own and runs
``python -m unittest discover -s tests/frameworks -t .`` there.
"""
