"""One socket's send buffer: every frame to the client goes through it, in order.

:meth:`SendBuffer.put` never waits (the channel layer's direct delivery calls it
from its receiving task, which must never wait on one client); a writer task
drains the buffer with the ASGI ``send``. The buffer is bounded: past
``CHAT_WS_MAX_BUFFERED_FRAMES`` frames or ``CHAT_WS_MAX_BUFFERED_BYTES`` bytes
of text (counted as characters) it is dropped and the socket closed with
4008 ("too slow"): the client reconnects and syncs from the room log instead
of the server holding its backlog in memory.

Backpressure must reach the writer for the bound to mean anything:

- uvicorn: ``await send`` waits while the transport's write buffer is full.
- daphne: ``send`` never waits (Twisted buffers without bound), so
  :func:`watch_daphne_transport` registers a streaming producer on the
  connection's Twisted transport (``IConsumer.registerProducer``): Twisted
  calls ``pauseProducing`` when its write buffer passes ``bufferSize`` (64 KiB)
  and ``resumeProducing`` once it drained, and the writer waits in between.
  Twisted runs on daphne's asyncio loop (asyncioreactor), the loop the
  consumer runs on, so the callbacks simply set an ``asyncio.Event``.

A replay (``sync``, gap fill) controls its own pace with :meth:`put_paced`:
it waits until the buffer is below half its limits before adding a frame, so
a long replay to a healthy client never trips the limit; only live frames
(:meth:`put`) count against it.
"""

import asyncio
import collections
import functools
import logging
import struct
import sys
from collections.abc import Awaitable, Callable

from autobahn.websocket.protocol import WebSocketProtocol as _AutobahnProtocol
from django.conf import settings
from twisted.internet.interfaces import IPushProducer
from zope.interface import implementer

from ..events import wire

logger = logging.getLogger(__name__)

_OPEN, _SEND_GROUND = _AutobahnProtocol.STATE_OPEN, _AutobahnProtocol.SEND_STATE_GROUND
CLOSE_TIMEOUT = 30.0  # seconds a close frame may wait for the client to read (uvicorn)
TOO_SLOW_REASON = "too slow"


def limits() -> tuple[int, int]:
    """``(max frames, max bytes)`` from the settings."""
    return (
        settings.CHAT_WS_MAX_BUFFERED_FRAMES,
        settings.CHAT_WS_MAX_BUFFERED_BYTES,
    )


class SendBuffer:
    """A bounded FIFO of text frames (and a final close) and the task that writes it.

    One per socket, so it is kept small (slots, and a future only while
    somebody waits: an idle socket's buffer is an empty deque and a parked task).
    """

    __slots__ = (
        "_send", "max_frames", "max_bytes", "_on_overflow", "_queue", "frames", "bytes", "closed",
        "overflowed", "_paused", "_writer_waits", "_space_waits", "_writer", "_closer", "wire", "_started",
    )  # fmt: skip

    def __init__(
        self,
        send: Callable[[dict], Awaitable[None]],
        *,
        max_frames: int,
        max_bytes: int,
        on_overflow: Callable[[int, int], None] | None = None,
    ):
        self._send = send
        self.max_frames, self.max_bytes = max_frames, max_bytes
        self._on_overflow = on_overflow
        self._queue: collections.deque = collections.deque()
        self.frames = 0
        self.bytes = 0
        self.closed = False  # no more frames are taken
        self.overflowed = False
        self._paused = False  # the transport takes no data now (daphne's producer)
        self._writer_waits: asyncio.Future | None = None  # for something to write, or writability
        self._space_waits: asyncio.Future | None = None  # put_paced, for the low-water mark
        self._writer: asyncio.Task | None = None
        self._started = False
        self._closer: asyncio.Task | None = None
        # daphne: writes whole frames onto the connection itself (DaphneWire)
        self.wire: DaphneWire | None = None

    # --- producing -----------------------------------------------------------------
    def start(self) -> None:
        """Ready to take frames. The writer task starts with the first frame that
        has to wait (on daphne most never do: :class:`DaphneWire`), so an idle
        socket holds no task for it."""
        self._started = True

    def put(self, text: str) -> bool:
        """Queue a frame; False when the socket is closing or this overflowed the buffer.

        On daphne a frame that would be next anyway (nothing queued, the
        transport taking data) is written at once, without the writer task.
        """
        if self.closed:
            return False
        if self.wire is not None and not self._queue and not self._paused and self.wire.write(text_frame(text)):
            return True
        self._append(text)
        if self.frames > self.max_frames or self.bytes > self.max_bytes:
            self._overflow()
            return False
        return True

    async def put_paced(self, text: str) -> bool:
        """Queue a replayed frame once the buffer is below half its limits."""
        while not self.closed and self._above_low_water():
            self._space_waits = asyncio.get_running_loop().create_future()
            await self._space_waits
        if self.closed:
            return False
        self._append(text)
        return True

    def put_close(self, code: int) -> None:
        """Close the socket after the frames already queued."""
        if self.closed:
            return
        self.closed = True
        self._queue.append({"type": "websocket.close", "code": code})
        self._wake_writer()
        self._wake_space()

    # --- backpressure (daphne) -----------------------------------------------------
    @property
    def writable(self) -> bool:
        return not self._paused

    def pause(self) -> None:
        self._paused = True

    def resume(self) -> None:
        self._paused = False
        self._wake_writer()

    # --- ending --------------------------------------------------------------------
    async def stop(self) -> None:
        """The socket is gone: drop what is queued and end the tasks."""
        self.closed = True
        self._drop()
        for task in (self._writer, self._closer):
            if task is not None and task is not asyncio.current_task():
                task.cancel()
                try:
                    await task
                except asyncio.CancelledError:
                    pass
                except Exception:
                    logger.debug("send task ended with an error", exc_info=True)

    # --- internals -----------------------------------------------------------------
    @staticmethod
    def _wake(future: asyncio.Future | None) -> None:
        if future is not None and not future.done():
            future.set_result(None)

    def _wake_writer(self) -> None:
        if self._writer is None:
            if self._started and self._queue and not self.overflowed:
                self._writer = asyncio.get_running_loop().create_task(self._write_forever())
            return
        self._wake(self._writer_waits)

    def _wake_space(self) -> None:
        self._wake(self._space_waits)

    def _append(self, item: str) -> None:
        self._queue.append(item)
        self.frames += 1
        self.bytes += len(item)
        self._wake_writer()

    def _above_low_water(self) -> bool:
        return self.frames * 2 >= self.max_frames or self.bytes * 2 >= self.max_bytes

    def _drop(self) -> None:
        self._queue.clear()
        self.frames = self.bytes = 0
        self._wake_space()

    def _overflow(self) -> None:
        frames, size = self.frames, self.bytes
        self.closed = self.overflowed = True
        self._drop()
        if self._on_overflow is not None:
            self._on_overflow(frames, size)
        self._closer = asyncio.get_running_loop().create_task(self._close_too_slow())

    async def _close_too_slow(self) -> None:
        """Close at once with 4008, ahead of anything queued (it was dropped)."""
        writer = self._writer
        if writer is not None and not writer.done():
            writer.cancel()
            try:
                await writer
            except BaseException:
                if asyncio.current_task().cancelling():
                    raise
        message = {"type": "websocket.close", "code": wire.CLOSE_TOO_SLOW, "reason": TOO_SLOW_REASON}
        try:
            # daphne writes it at once (autobahn drops the TCP connection if the
            # client does not answer within its close handshake timeout, 1 s);
            # uvicorn waits until the client reads again.
            await asyncio.wait_for(self._send(message), CLOSE_TIMEOUT)
        except TimeoutError:
            logger.info("close frame to a slow client not taken within %.0f s", CLOSE_TIMEOUT)
        except Exception:
            logger.debug("close of a slow client failed", exc_info=True)

    async def _write_forever(self) -> None:
        queue = self._queue
        loop = asyncio.get_running_loop()
        try:
            while True:
                while not queue or self._paused:
                    self._writer_waits = loop.create_future()
                    await self._writer_waits
                item = queue.popleft()
                if isinstance(item, str):
                    self.frames -= 1
                    self.bytes -= len(item)
                    if self._space_waits is not None and not self._above_low_water():
                        self._wake_space()
                    if self.wire is None or not self.wire.write(text_frame(item)):
                        await self._send({"type": "websocket.send", "text": item})
                else:
                    await self._send(item)
                    return
        except asyncio.CancelledError:
            raise
        except Exception:
            logger.debug("send failed; the disconnect follows", exc_info=True)
            self.closed = True
            self._drop()


# --- daphne: Twisted tells when its write buffer is full ----------------------------------
@implementer(IPushProducer)
class _TransportGate:
    """A streaming producer on the connection's transport: gates the buffer's writer.

    The transport can have one producer; twisted.web's HTTPChannel registered
    itself when the connection was still HTTP (daphne hands the transport over
    to the WebSocket protocol without unregistering it). The gate takes its
    place and passes every call on to it, so its behaviour stays.
    """

    def __init__(self, buffer: SendBuffer, previous):
        self.buffer = buffer
        self.previous = previous

    def pauseProducing(self):
        self.buffer.pause()
        if self.previous is not None:
            self.previous.pauseProducing()

    def resumeProducing(self):
        self.buffer.resume()
        if self.previous is not None:
            self.previous.resumeProducing()

    def stopProducing(self):
        self.buffer.resume()  # the connection is gone: let the writer run into the disconnect
        if self.previous is not None:
            self.previous.stopProducing()


def daphne_transport(send):
    """The Twisted transport under an ASGI ``send`` when daphne serves it, else None.

    daphne passes ``functools.partial(server.handle_reply, protocol)``, with
    ``protocol`` its autobahn-based ``WebSocketProtocol``.
    """
    ws_protocol = sys.modules.get("daphne.ws_protocol")
    if ws_protocol is None or not isinstance(send, functools.partial) or not send.args:
        return None
    protocol = send.args[0]
    if not isinstance(protocol, ws_protocol.WebSocketProtocol):
        return None
    transport = getattr(protocol, "transport", None)
    if transport is None or not hasattr(transport, "registerProducer"):
        return None
    return transport


def watch_daphne_transport(send, buffer: SendBuffer) -> bool:
    """Pause ``buffer``'s writer while daphne's transport is full, and let it
    write frames onto the transport itself (:class:`DaphneWire`); False if not daphne."""
    transport = daphne_transport(send)
    if transport is None:
        return False
    previous = getattr(transport, "producer", None)
    if previous is not None:
        transport.unregisterProducer()
    transport.registerProducer(_TransportGate(buffer, previous), True)
    buffer.wire = DaphneWire.for_protocol(send.args[0], transport)
    return True


# --- daphne: frames written onto the connection, built once per event ---------------------
_last_frame: tuple[str | None, bytes] = (None, b"")


def text_frame(text: str) -> bytes:
    """``text`` as one unmasked, unfragmented WebSocket text frame (RFC 6455
    5.2; a server never masks). The last one is kept: a room event reaches
    every local socket of the room with the same ``text`` object, so its frame
    is built once for all of them."""
    global _last_frame
    last_text, frame = _last_frame
    if last_text is text:
        return frame
    payload = text.encode()
    size = len(payload)
    if size < 126:
        header = bytes((0x81, size))
    elif size < 65536:
        header = struct.pack("!BBH", 0x81, 126, size)
    else:
        header = struct.pack("!BBQ", 0x81, 127, size)
    frame = header + payload
    _last_frame = (text, frame)
    return frame


class DaphneWire:
    """Writes whole text frames straight onto a daphne connection's transport.

    daphne hands each frame to autobahn, which builds it in Python, checks and
    counts it and formats a debug-log call even with debug logging off: about
    half of daphne's cost per frame written. A server frame is only a header and
    the UTF-8 payload, so the send buffer writes it itself — the same bytes for
    every socket a room event reaches — whenever autobahn would have written it
    as one piece at once: the connection open, no message of autobahn's half
    sent or queued, no compression, fragmentation or size limit in the way.
    Otherwise :meth:`write` says no and the frame goes through daphne as
    before; close, ping and pong frames always do.
    """

    __slots__ = ("protocol", "transport", "max_size")

    def __init__(self, protocol, transport):
        self.protocol, self.transport = protocol, transport
        self.max_size = protocol.maxMessagePayloadSize or 0

    @classmethod
    def for_protocol(cls, protocol, transport) -> "DaphneWire | None":
        if getattr(protocol, "_perMessageCompress", None) is not None or getattr(protocol, "autoFragmentSize", 0):
            return None
        if getattr(protocol, "trackedTimings", None) or not hasattr(protocol, "send_queue"):
            return None
        return cls(protocol, transport)

    def write(self, frame: bytes) -> bool:
        protocol = self.protocol
        if protocol.state != _OPEN or protocol.send_state != _SEND_GROUND or protocol.send_queue:
            return False
        if self.max_size and len(frame) > self.max_size:
            return False
        self.transport.write(frame)
        return True
