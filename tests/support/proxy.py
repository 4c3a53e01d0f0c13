"""A TCP proxy standing for the DNS name of a managed Redis: clients connect to it, it forwards to
one server, and :meth:`Proxy.retarget` moves the name to another server, closing every
connection open through it (as a managed failover does when it repoints its endpoint)."""

from __future__ import annotations

import contextlib
import socket
import threading

from dlrhook.dev.embedded import free_port


class Proxy:
    def __init__(self, target_port: int) -> None:
        self.port = free_port()
        self.target = target_port
        self._lock = threading.Lock()
        self._open: list[socket.socket] = []
        self._listener = socket.create_server(("127.0.0.1", self.port))
        self._stopped = False
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def retarget(self, port: int) -> None:
        """From now on forward to *port*, and close every connection made before."""
        with self._lock:
            self.target = port
            for sock in self._open:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
                sock.close()
            self._open.clear()

    def close(self) -> None:
        self._stopped = True
        self._listener.close()
        self.retarget(self.target)

    def _accept(self) -> None:
        while not self._stopped:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            with self._lock:
                try:
                    upstream = socket.create_connection(("127.0.0.1", self.target))
                except OSError:
                    client.close()
                    continue
                self._open += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    @staticmethod
    def _pump(source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        for sock in (source, sink):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
