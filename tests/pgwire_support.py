"""A loopback proxy in front of a PostgreSQL server that records what the client sends.

Counted on the wire, not in peewee or psycopg2: every message a driver sends
is seen, BEGIN and COMMIT included. psycopg2 sends each statement as a simple
Query ('Q') and waits for the server's ReadyForQuery, so each Query is one
round trip (an extended-protocol Sync, 'S', would be one too).

    with WireLog(url) as wire:
        app = create_app({"DATABASE_URL": wire.url, ...})
        ...
        wire.queries  # the SQL of each round trip, in order

The proxy asks the client not to encrypt (sslmode, gssencmode), so the
messages stay readable.
"""

import socket
import struct
import threading
from urllib.parse import parse_qsl
from urllib.parse import urlencode
from urllib.parse import urlsplit
from urllib.parse import urlunsplit

SSL_REQUEST = 80877103
GSSENC_REQUEST = 80877104
CANCEL_REQUEST = 80877102
ROUND_TRIP = (b"Q", b"S")  # simple Query; Sync ends an extended-protocol exchange


class WireLog:
    def __init__(self, url: str):
        parts = urlsplit(url)
        self.target = (parts.hostname or "127.0.0.1", parts.port or 5432)
        self.listener = socket.create_server(("127.0.0.1", 0))
        port = self.listener.getsockname()[1]
        query = dict(parse_qsl(parts.query), sslmode="disable", gssencmode="disable")
        netloc = parts.netloc.rpartition("@")[0]
        netloc = f"{netloc}@127.0.0.1:{port}" if netloc else f"127.0.0.1:{port}"
        self.url = urlunsplit(parts._replace(netloc=netloc, query=urlencode(query)))
        self.messages: list[tuple[bytes, bytes]] = []  # (type, body), client to server
        self.connections = 0
        self._lock = threading.Lock()
        self._sockets: list[socket.socket] = []

    @property
    def queries(self) -> list[str]:
        """The SQL text of each simple Query sent, in order."""
        with self._lock:
            return [body.rstrip(b"\x00").decode() for kind, body in self.messages if kind == b"Q"]

    @property
    def round_trips(self) -> int:
        with self._lock:
            return sum(1 for kind, _ in self.messages if kind in ROUND_TRIP)

    def clear(self) -> None:
        with self._lock:
            self.messages.clear()

    def __enter__(self) -> "WireLog":
        threading.Thread(target=self._accept, daemon=True).start()
        return self

    def __exit__(self, *exc) -> None:
        self.listener.close()
        for sock in self._sockets:
            try:
                sock.close()
            except OSError:
                pass

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            server = socket.create_connection(self.target)
            for sock in (client, server):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self._sockets += [client, server]
            self.connections += 1
            threading.Thread(target=self._pump, args=(server, client), daemon=True).start()
            threading.Thread(target=self._read_client, args=(client, server), daemon=True).start()

    @staticmethod
    def _pump(source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            _shut(sink)

    def _read_client(self, client: socket.socket, server: socket.socket) -> None:
        buffer = b""
        started = False  # past the untyped startup messages
        try:
            while data := client.recv(65536):
                buffer += data
                while True:
                    if not started:
                        if len(buffer) < 8:
                            break
                        length, code = struct.unpack("!ii", buffer[:8])
                        if len(buffer) < length:
                            break
                        buffer = buffer[length:]
                        if code not in (SSL_REQUEST, GSSENC_REQUEST, CANCEL_REQUEST):
                            started = True  # the StartupMessage
                        continue
                    if len(buffer) < 5:
                        break
                    (length,) = struct.unpack("!i", buffer[1:5])
                    if len(buffer) < 1 + length:
                        break
                    with self._lock:
                        self.messages.append((buffer[:1], buffer[5 : 1 + length]))
                    buffer = buffer[1 + length :]
                server.sendall(data)
        except OSError:
            pass
        finally:
            _shut(server)


def _shut(sock: socket.socket) -> None:
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
