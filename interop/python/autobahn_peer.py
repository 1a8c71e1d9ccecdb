"""Python's `websockets` (Debian's python3-websockets 10.4, legacy asyncio
API) as a peer of the built-in Autobahn suite (../../autobahn/suite), driven
by autobahn/suite/peers_python_test.go.

It is set up like the websockets maintainers' own Autobahn scripts of the
10.x releases (compliance/test_server.py and compliance/test_client.py in
their repository), whose results their compliance/README.rst describes:

  - the echo loop is `async for message in ws: await ws.send(message)`;
  - both roles use max_size=2**25 (32 MiB) and max_queue=1;
  - everything else is the library's default: permessage-deflate on
    (websockets' default extension settings), the default timeouts and
    keepalive pings;
  - the client runs the cases one at a time, each on a new connection.

Unlike the maintainers' client, a case whose connection ends in an error
(a handshake refused, a close with an error code) does not stop the run:
the error is the suite's to judge, not the driver's.

  python3 autobahn_peer.py server                   listens on 127.0.0.1 (a
                                                    free port), prints
                                                    {"port": N}
  python3 autobahn_peer.py client URL AGENT FIRST STEP COUNT
                                                    runs cases FIRST,
                                                    FIRST+STEP, ... up to
                                                    COUNT (0: ask the suite
                                                    with /getCaseCount) of the
                                                    fuzzing server at URL as
                                                    AGENT
  python3 autobahn_peer.py update URL AGENT         asks the fuzzing server
                                                    to write AGENT's reports

The process exits when stdin ends, so a test that dies never leaves it
behind. Use /usr/bin/python3: Debian's package is not visible to other
Python installations.
"""

import asyncio
import json
import os
import sys
import threading
import urllib.parse

import websockets

# As in the maintainers' scripts.
MAX_SIZE = 2**25
MAX_QUEUE = 1


async def echo(ws):
    """Sends every message back as it came (text as text, binary as binary)."""
    try:
        async for message in ws:
            await ws.send(message)
    except websockets.exceptions.WebSocketException:
        pass


async def stdin_closed():
    """Returns when stdin reaches its end (or fails)."""
    loop = asyncio.get_running_loop()
    ended = loop.create_future()

    def end():
        if not ended.done():
            ended.set_result(None)

    def readable():
        try:
            data = os.read(0, 65536)
        except OSError:
            data = b""
        if not data:
            end()

    try:
        loop.add_reader(0, readable)
    except (OSError, ValueError):
        # Not pollable (a regular file, /dev/null): a daemon thread reads
        # it with os.read, which holds no lock at interpreter shutdown.
        def read():
            try:
                while os.read(0, 65536):
                    pass
            except OSError:
                pass
            try:
                loop.call_soon_threadsafe(end)
            except RuntimeError:  # the loop is closed: nothing waits any more
                pass

        threading.Thread(target=read, daemon=True).start()
    try:
        await ended
    finally:
        loop.remove_reader(0)


async def serve():
    async with websockets.serve(
        echo, "127.0.0.1", 0, max_size=MAX_SIZE, max_queue=MAX_QUEUE
    ) as server:
        port = server.sockets[0].getsockname()[1]
        sys.stdout.write(json.dumps({"port": port}) + "\n")
        sys.stdout.flush()
        await stdin_closed()


async def case_count(base):
    async with websockets.connect(f"{base}/getCaseCount") as ws:
        return int(await ws.recv())


async def run_case(base, agent, case):
    uri = f"{base}/runCase?case={case}&agent={agent}"
    try:
        async with websockets.connect(
            uri, max_size=MAX_SIZE, max_queue=MAX_QUEUE
        ) as ws:
            await echo(ws)
    except websockets.exceptions.ConnectionClosed:
        pass  # closing with an error is what many cases test
    except (websockets.exceptions.WebSocketException, OSError) as e:
        sys.stderr.write(f"case {case}: {type(e).__name__}: {e}\n")


async def run_cases(base, agent, first, step, count):
    if count == 0:
        count = await case_count(base)
    for case in range(first, count + 1, step):
        await run_case(base, agent, case)


async def update_reports(base, agent):
    async with websockets.connect(f"{base}/updateReports?agent={agent}"):
        pass


async def until_stdin_closes(work):
    """Runs work; gives up if stdin ends first (the test went away)."""
    task = asyncio.ensure_future(work)
    guard = asyncio.ensure_future(stdin_closed())
    done, _ = await asyncio.wait({task, guard}, return_when=asyncio.FIRST_COMPLETED)
    if task not in done:
        task.cancel()
        return 1
    guard.cancel()
    task.result()
    return 0


def main(argv):
    usage = (
        "usage: autobahn_peer.py server | client URL AGENT FIRST STEP COUNT"
        " | update URL AGENT\n"
    )
    if argv == ["server"]:
        asyncio.run(serve())
        return 0
    if len(argv) == 6 and argv[0] == "client":
        base, agent = argv[1], urllib.parse.quote(argv[2])
        first, step, count = (int(a) for a in argv[3:6])
        if first < 1 or step < 1 or count < 0:
            sys.stderr.write(usage)
            return 2
        return asyncio.run(until_stdin_closes(run_cases(base, agent, first, step, count)))
    if len(argv) == 3 and argv[0] == "update":
        base, agent = argv[1], urllib.parse.quote(argv[2])
        return asyncio.run(until_stdin_closes(update_reports(base, agent)))
    sys.stderr.write(usage)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
