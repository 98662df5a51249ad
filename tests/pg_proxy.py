"""A TCP proxy on 127.0.0.1 in front of the test PostgreSQL that can lose the answer to a COMMIT.

Bytes pass through unchanged both ways. Once ``arm()``-ed, the next client message carrying
``COMMIT`` is forwarded to the server; the server's answer (the commit is done by then) is
swallowed and the client's connection is closed, as a network cut at that moment would leave
it: the client cannot know whether its transaction landed. Later connections pass through.
"""

from __future__ import annotations

import socket
import threading


class LostCommitProxy:
    """Forwards 127.0.0.1:``port`` to 127.0.0.1:``target_port``; ``arm()`` loses one COMMIT's answer."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self._armed = threading.Event()
        self.answers_lost = 0
        threading.Thread(target=self._accept, name="lost-commit-proxy", daemon=True).start()

    def arm(self) -> None:
        """Lose the answer to the next COMMIT any client sends."""
        self._armed.set()

    def url(self, url: str) -> str:
        """``url`` (of the test server) pointed at the proxy."""
        return url.replace(f"127.0.0.1:{self.target_port}/", f"127.0.0.1:{self.port}/")

    def close(self) -> None:
        self._listener.close()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            server = socket.create_connection(("127.0.0.1", self.target_port))
            cut = threading.Event()  # set: the server's next bytes are the lost answer
            threading.Thread(target=self._up, args=(client, server, cut), daemon=True).start()
            threading.Thread(target=self._down, args=(server, client, cut), daemon=True).start()

    def _up(self, client: socket.socket, server: socket.socket, cut: threading.Event) -> None:
        try:
            while data := client.recv(65536):
                if b"COMMIT" in data and self._armed.is_set():
                    self._armed.clear()
                    cut.set()
                server.sendall(data)
        except OSError:
            pass
        finally:
            _close(server)

    def _down(self, server: socket.socket, client: socket.socket, cut: threading.Event) -> None:
        try:
            while data := server.recv(65536):
                if cut.is_set():  # the commit's answer: never delivered; the client sees the line drop
                    self.answers_lost += 1
                    break
                client.sendall(data)
        except OSError:
            pass
        finally:
            _close(client)
            _close(server)


def _close(sock: socket.socket) -> None:
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    sock.close()
