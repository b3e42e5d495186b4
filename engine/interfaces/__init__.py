"""How users reach Dawn from outside Python code: the ``dawn`` command (cli.py), ``dawn demo``
(demo.py), ``dawn runs`` (runs_cli.py), and the one result renderer they share (render.py).
The DB-API connection (engine/connection.py) is still beside the session for now."""
