"""The ``dawn`` command.

``dawn [DATABASE] [-c SQL | -f FILE]`` runs SQL (also read from stdin when stdin is not a
terminal; on a terminal, without -c or -f, it starts the interactive shell, shell.py) and prints every statement's result with the shared renderer (render.py); each
statement is a tracked run whose id goes to stderr, so stdout holds the results alone.
``dawn demo`` builds a demo database and runs showcase queries (demo.py); ``dawn runs
list|show|compare|export|gc`` reads the run log (runs_cli.py); ``dawn serve DATABASE`` serves
it to Arrow Flight SQL clients (flight_sql.py) until interrupted.

Every failure is one line on stderr and exit status 1, never a traceback. A script stops at its
first failing statement (as DuckDB's ``-bail``; DuckDB's own default goes on to the next
statement and exits 1 at the end), so later statements never run on the state a failed one left.
"""
from __future__ import annotations

import argparse
import os
import re
import signal
import sys

SUBCOMMANDS = ("demo", "runs", "serve")
_VALUED = {"-c", "--command", "-d", "--database", "-f", "--file"}   # options that take a value


class UsageError(Exception):
    """A command line that cannot be run as written."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):   # one line and status 1, not argparse's usage block and 2
        raise UsageError(f"{message} (see {self.prog} --help)")


def version() -> str:
    from importlib.metadata import PackageNotFoundError, version as _v
    try:
        return _v("dawn")
    except PackageNotFoundError:
        return "unknown (not installed)"


def one_line(msg: object) -> str:
    return re.sub(r"\s*\n\s*", " ", str(msg)).strip()


def fail(msg: object, err=None) -> int:
    print(f"Error: {one_line(msg)}", file=err or sys.stderr)
    return 1


# ---- running SQL
def print_result(res, out, width: int | None = None, readable: bool = False) -> None:
    from engine.interfaces.render import render_result
    text = render_result(res, max_width=width, readable_numbers=readable)
    if text:
        print(text, file=out)


def run_sql(con, sql: str, out=None, err=None, script: bool = False) -> int:
    """Run the statements in ``sql``, printing each one's result to ``out`` as it finishes and
    its run id to ``err``. Stops at the first failure: its error is one line on ``err`` ("near
    line N" for a script, as DuckDB and sqlite say it); returns the exit status."""
    out, err = out or sys.stdout, err or sys.stderr
    from engine.interfaces.render import output_width
    tty = hasattr(out, "isatty") and out.isatty()
    width = output_width() if tty else None
    session = con._session
    statements = session.execute_each(sql)
    while True:
        try:
            res = next(statements)
        except StopIteration:
            return 0
        except BaseException as e:
            if session.last_run_id:
                print(f"run {session.last_run_id}", file=err)
            if not isinstance(e, Exception):
                raise        # KeyboardInterrupt, SystemExit: main() reports them
            where = f"near line {e.statement_line}: " if script and hasattr(e, "statement_line") else ""
            return fail(where + describe(e), err)
        if res.run_id:
            print(f"run {res.run_id}", file=err)
        print_result(res, out, width, tty)
        out.flush()


def describe(e: BaseException) -> str:
    """An error for the user: Dawn's own message; anything else (a bug) with its kind."""
    import engine
    if isinstance(e, engine.Error):
        return str(e)
    return f"internal error ({type(e).__name__}): {e}"


def open_database(path: str, source: str = "shell"):
    """A connection to ``path``; UsageError, one line, when it cannot be opened."""
    import engine
    if path != ":memory:":
        folder = os.path.dirname(os.path.abspath(path))
        if not os.path.isdir(folder):
            raise UsageError(f"Cannot open database '{path}': the folder '{os.path.dirname(path) or folder}' "
                             "does not exist")
        if os.path.isdir(path):
            raise UsageError(f"Cannot open database '{path}': it is a folder")
    try:
        return engine.connect(path, autocommit=True, source=source)
    except engine.Error as e:
        raise UsageError(str(e)) from None


# ---- arguments
def _positionals(argv: list[str]) -> list[int]:
    """Indexes of the positional arguments before any subcommand's own arguments."""
    out, i = [], 0
    while i < len(argv):
        a = argv[i]
        if a == "--":
            out.extend(range(i + 1, len(argv)))
            break
        if a in _VALUED:
            i += 2
            continue
        if not a.startswith("-") or a == "-":
            out.append(i)
            if a in SUBCOMMANDS:
                break
        i += 1
    return out


def sql_parser() -> argparse.ArgumentParser:
    ap = _Parser(prog="dawn", description="Dawn: SQL for analytics that call ML models",
                 epilog="subcommands: 'dawn demo' builds a demo database and runs showcase queries; "
                        "'dawn serve DATABASE' serves it to Arrow Flight SQL clients; "
                        "'dawn [-d FILE] runs list|show|compare|export|gc' reads the run log "
                        "(see 'dawn runs --help'). A database file named demo or runs is given as "
                        "-d demo or ./demo.")
    ap.add_argument("database", nargs="?", help="database file (default :memory:); created if missing")
    ap.add_argument("-d", "--database", dest="database_opt", metavar="DATABASE",
                    help="database file, as the positional argument")
    src = ap.add_mutually_exclusive_group()
    src.add_argument("-c", "--command", help="SQL to run (statements separated by ';'), then exit")
    src.add_argument("-f", "--file", help="SQL script to run, then exit ('-' reads stdin)")
    ap.add_argument("--version", action="version", version=f"dawn {version()}")
    return ap


def sub_parser() -> argparse.ArgumentParser:
    ap = _Parser(prog="dawn", description="Dawn: SQL for analytics that call ML models")
    ap.add_argument("-d", "--database", default=None, help="database file")
    ap.add_argument("--version", action="version", version=f"dawn {version()}")
    sub = ap.add_subparsers(dest="cmd", parser_class=_Parser)
    demo = sub.add_parser("demo", help="build a demo database and run showcase queries")
    demo.add_argument("--sf", type=float, default=0.1, help="TPC-H scale factor of the demo data")
    demo.add_argument("--dir", default=None, help="where to put the demo data")
    serve = sub.add_parser("serve", help="serve a database to Arrow Flight SQL clients (ADBC, JDBC)",
                           description="Serve DATABASE over Arrow Flight SQL until Ctrl-C. Binding "
                           "anything but a loopback address needs --token or --user/--password.")
    serve.add_argument("serve_database", nargs="?", metavar="DATABASE",
                       help="database file (default: -d, else :memory:)")
    serve.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    serve.add_argument("--port", type=int, default=31337, help="port (default 31337; 0 picks a free one)")
    serve.add_argument("--token", default=None, help="require 'authorization: Bearer TOKEN' "
                       "(default: $DAWN_SERVE_TOKEN)")
    serve.add_argument("--user", default=None, help="require basic authentication as this user")
    serve.add_argument("--password", default=None, help="the password for --user "
                       "(default: $DAWN_SERVE_PASSWORD)")
    serve.add_argument("--tls-cert", default=None, metavar="PEM", help="serve over TLS with this certificate")
    serve.add_argument("--tls-key", default=None, metavar="PEM", help="the certificate's private key")
    serve.add_argument("--read-only", action="store_true", help="refuse every statement that writes")
    serve.add_argument("--allow-udf-registration", action="store_true",
                       help="let remote clients run CREATE FUNCTION (it imports Python code here)")
    serve.add_argument("--statement-timeout", type=float, default=None, metavar="SECONDS",
                       help="stop a statement that runs longer (from its start to its last batch)")
    serve.add_argument("--max-result-bytes", type=int, default=None, metavar="BYTES",
                       help="end a result that would stream more than this many bytes")
    runs = sub.add_parser("runs", help="the run log: every statement is a tracked run")
    runs.add_argument("-d", "--database", dest="runs_database", default=None,
                      help="database file (default: -d before 'runs', or $DAWN_DATABASE)")
    rsub = runs.add_subparsers(dest="runs_cmd", required=True, parser_class=_Parser,
                               metavar="{list,show,compare,export,gc}")
    ls = rsub.add_parser("list", help="recent runs, newest first")
    ls.add_argument("--experiment", "-e", default=None)
    ls.add_argument("--status", default=None, choices=["RUNNING", "FINISHED", "FAILED"])
    ls.add_argument("--limit", "-n", type=int, default=20)
    show = rsub.add_parser("show", help="one run: fields, params, metrics, tags, artifacts")
    show.add_argument("run", help="run id (a unique prefix or suffix is enough)")
    cmp_ = rsub.add_parser("compare", help="params and metrics that differ between two runs")
    cmp_.add_argument("run_a")
    cmp_.add_argument("run_b")
    ex = rsub.add_parser("export", help="write runs in MLflow's format, or log them to an MLflow server")
    ex.add_argument("--mlflow", metavar="DIR", help="MLflow file-store directory to write")
    ex.add_argument("--mlflow-uri", metavar="URI", help="MLflow tracking URI to log to (needs mlflow)")
    ex.add_argument("--experiment", "-e", default=None)
    gc = rsub.add_parser("gc", help="delete runs older than the retention (SET GLOBAL run_retention_days)")
    gc.add_argument("--days", type=float, default=None, help="override the retention, in days")
    return ap


def run_serve(args, out=None) -> int:
    """``dawn serve``: start the Flight SQL server, print its URI, serve until interrupted."""
    import threading
    out = out or sys.stdout
    database = args.serve_database or args.database or ":memory:"
    if database != ":memory:" and not os.path.isdir(os.path.dirname(os.path.abspath(database))):
        raise UsageError(f"Cannot open database '{database}': its folder does not exist")
    from engine.interfaces.flight_sql import DawnFlightServer, ServeOptions
    options = ServeOptions(
        host=args.host, port=args.port, token=args.token or os.environ.get("DAWN_SERVE_TOKEN"),
        user=args.user, password=args.password or (os.environ.get("DAWN_SERVE_PASSWORD") if args.user else None),
        tls_cert=args.tls_cert, tls_key=args.tls_key, read_only=args.read_only,
        allow_udf_registration=args.allow_udf_registration,
        statement_timeout=args.statement_timeout, max_result_bytes=args.max_result_bytes)
    try:
        server = DawnFlightServer(database, options)
    except ValueError as e:
        raise UsageError(str(e)) from None
    except OSError as e:
        raise UsageError(f"Cannot serve on {args.host}:{args.port}: {e}") from None
    except Exception as e:   # pyarrow reports a taken port as ArrowException
        raise UsageError(f"Cannot serve on {args.host}:{args.port}: {one_line(e)}") from None
    print(f"Serving {database} on {server.uri} (Arrow Flight SQL; Ctrl-C stops)", file=out, flush=True)
    if options.tls_cert is None and (options.token or options.user) and not _loopback(options.host):
        print("Warning: without --tls-cert/--tls-key credentials travel in clear text", file=sys.stderr)
    stop = threading.Event()
    try:
        server.serve_in_thread()
        while not stop.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        server.shutdown()
    print("Stopped.", file=out)
    return 0


def _loopback(host: str) -> bool:
    from engine.interfaces.flight_sql import is_loopback
    return is_loopback(host)


def _read_script(args) -> tuple[str | None, bool]:
    """The SQL to run and whether it is a script (file or stdin) rather than -c."""
    if args.command is not None:
        return args.command, False
    if args.file is not None:
        if args.file == "-":
            return sys.stdin.read(), True
        try:
            with open(args.file, encoding="utf-8") as f:
                return f.read(), True
        except OSError as e:
            raise UsageError(f"Cannot read SQL file '{args.file}': {e.strerror or e}") from None
        except UnicodeDecodeError:
            raise UsageError(f"Cannot read SQL file '{args.file}': it is not UTF-8 text") from None
    if sys.stdin is not None and not sys.stdin.isatty():
        return sys.stdin.read(), True
    return None, False


def _main(argv: list[str]) -> int:
    pos = _positionals(argv)
    if len(pos) >= 2 and argv[pos[1]] in SUBCOMMANDS and argv[pos[0]] not in SUBCOMMANDS:
        # dawn FILE runs ...: the database before a subcommand
        argv = ["-d", argv[pos[0]]] + argv[:pos[0]] + argv[pos[0] + 1:]
        pos = _positionals(argv)
    if pos and argv[pos[0]] in SUBCOMMANDS:
        args = sub_parser().parse_args(argv)
        if args.cmd == "runs":
            from engine.interfaces.runs_cli import run_runs_command
            db = args.runs_database or args.database or os.environ.get("DAWN_DATABASE")
            return run_runs_command(args, db)
        if args.cmd == "serve":
            return run_serve(args)
        from engine.interfaces.demo import DemoError, run_demo
        try:
            return run_demo(args.sf, args.dir)
        except DemoError as e:
            raise UsageError(str(e)) from None
    ap = sql_parser()
    args = ap.parse_args(argv)
    if args.database and args.database_opt and args.database != args.database_opt:
        raise UsageError(f"two databases given: '{args.database}' and -d '{args.database_opt}'")
    database = args.database or args.database_opt or ":memory:"
    sql, script = _read_script(args)
    if sql is None:   # a terminal: the interactive shell (shell.py)
        from engine.interfaces.shell import interactive
        con = open_database(database)
        try:
            return interactive(con, database)
        finally:
            con.close()
    con = open_database(database)
    try:
        return run_sql(con, sql, script=script)
    except KeyboardInterrupt:
        # a second Ctrl-C while the run log is written out ends at once, still without a traceback
        signal.signal(signal.SIGINT, lambda *_: os._exit(1))
        raise
    finally:
        con.close()


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    for stream in (sys.stdout, sys.stderr):   # a terminal without the grid's characters: '?', no crash
        if hasattr(stream, "reconfigure"):
            stream.reconfigure(errors="replace")
    try:
        return _main(argv)
    except UsageError as e:
        return fail(e)
    except KeyboardInterrupt:
        return fail("Interrupted")
    except BrokenPipeError:      # dawn ... | head: the reader left; say nothing more
        try:
            sys.stdout = open(os.devnull, "w")
        except OSError:
            pass
        return 1
    except Exception as e:
        if os.environ.get("DAWN_DEBUG"):
            raise
        return fail(describe(e))


if __name__ == "__main__":
    sys.exit(main())
