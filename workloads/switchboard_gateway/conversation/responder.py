"""The agent's side of a call: replies, tools and speech, one work item at a time.

Work items are typed (work.py): greeting, caller turn, apology, recording notice, transfer. Each
runs as one `Reply`, a handle that knows whether the caller interrupted it. An interruption
clears the agent's audio first and keeps the `Playback`, so the history records only what was
heard. The recording notice and the handoff line cannot be interrupted.

A caller turn heard at a pause may be *held* (held.py): answered in advance while endpointing
decides, silently, and either confirmed (its reply goes on, its first audio at once) or dropped.

A turn is *unfinished* when the caller cut its reply off before hearing a word of it: endpointing
ended the turn at a pause the caller meant to go on from ("Do you have a dentist … who speaks
Spanish?"). Their next words join the same caller message and the turn is answered again, whole,
under its number; the cut reply left nothing in the history (caller_turns.py).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from switchboard_gateway.agent import AgentConfig
from switchboard_gateway.backends.base import BackendError, ChatModel
from switchboard_gateway.conversation.answering import Answerer
from switchboard_gateway.conversation.caller_turns import CallerTurns
from switchboard_gateway.conversation.clock import Clock
from switchboard_gateway.conversation.handoff import transfer
from switchboard_gateway.conversation.held import HeldTurn
from switchboard_gateway.conversation.history import ConversationHistory
from switchboard_gateway.conversation.listener import HeardTurn
from switchboard_gateway.conversation.timing import TurnTiming
from switchboard_gateway.conversation.voice import AgentVoice, Playback
from switchboard_gateway.conversation.work import (
    CallerTurn,
    Greeting,
    Notice,
    Phrase,
    Reply,
    Transfer,
    WorkItem,
)
from switchboard_gateway.events import (
    ClearEvent,
    EndReason,
    OutboundEvent,
    TranscriptEvent,
    TurnLatencyEvent,
)
from switchboard_gateway.tools.dispatch import ToolCalls
from switchboard_wire.chat import ToolRequest
from switchboard_wire.latency import LatencyStage

log = logging.getLogger(__name__)

APOLOGY = "Sorry, I'm having trouble right now. Could you say that again?"


class Responder:
    """Answers one call's caller turns in order, through tools and the agent's voice."""

    def __init__(
        self,
        config: AgentConfig,
        chat: ChatModel,
        voice: AgentVoice,
        tools: ToolCalls,
        history: ConversationHistory,
        send: Callable[[OutboundEvent], Awaitable[None]],
        clock: Clock,
        call_id: str,
        on_end: Callable[[EndReason], None],
    ) -> None:
        self._config, self._voice, self._tools = config, voice, tools
        self.history, self._send, self._clock, self._call_id = history, send, clock, call_id
        self._on_end = on_end
        self._answerer = Answerer(config, chat, voice, tools, history, send, clock, call_id)
        self._items: asyncio.Queue[WorkItem] = asyncio.Queue()
        self._turns = CallerTurns(history, send)
        self._reply: Reply | None = None
        #: The caller turn answered in advance at the caller's pause, until confirmed or dropped.
        self._held: HeldTurn | None = None
        #: A greeting is queued and still wanted (a caller who speaks first skips it).
        self._greeting_wanted = False
        #: A line the caller cannot cut is playing (the recording notice, the handoff line).
        self._protected = False
        #: The call is being handed to a human: no other turn is answered.
        self.handing_off = False
        #: When the last reply ended (clock time): the call's idle time counts from there.
        self.last_active = clock.now()

    @property
    def latencies(self) -> list[TurnLatencyEvent]:
        """Each answered caller turn's latency event, in order."""
        return self._answerer.latencies

    @property
    def turn_number(self) -> int:
        """The last caller turn's number (0: none yet)."""
        return self._turns.number

    @property
    def next_caller_turn(self) -> int:
        """The number the caller's next words will have (an unfinished turn's, if one is)."""
        return self._turns.next_number

    @property
    def busy(self) -> bool:
        """Whether a reply is running or the agent's audio is still playing.

        A held reply is not: the caller has heard nothing of it, and may go on speaking.
        """
        reply = self._reply
        held = getattr(reply.item, "held", None) if reply is not None else None
        active = reply is not None and reply.active and (held is None or held.confirmed.is_set())
        return active or self._voice.speaking

    def greet(self, text: str) -> None:
        """Queue the greeting."""
        self._greeting_wanted = True
        self._items.put_nowait(Greeting(text))

    def notice(self, text: str) -> None:
        """Queue the recording notice (before the greeting)."""
        self._items.put_nowait(Notice(text))

    async def hand_off(self, text: str, reason: str) -> None:
        """The caller asked for a human in so many words: transfer, without asking the model."""
        if self.handing_off:
            return
        await self.interrupt()
        self.handing_off, self._turns.waiting, self._greeting_wanted = True, None, False
        turn = self._turns.advance()
        await self._send(TranscriptEvent(turn, text, final=True))
        self.history.add({"role": "user", "content": text})
        self._items.put_nowait(Transfer(turn, reason))

    async def caller_typed(self, text: str) -> None:
        """A typed caller turn: it counts from now (or joins the turn still waiting)."""
        if self.handing_off or await self._turns.join_waiting(text):
            return
        now = self._clock.now()
        if continued := await self._turns.continue_unfinished(text, lambda n: TurnTiming(n, now)):
            self._items.put_nowait(continued)
        else:
            await self._caller_turn(text, TurnTiming(self._turns.advance(), now))

    def hold(self, heard: HeardTurn) -> None:
        """Answer a turn heard at the caller's pause in advance, if the agent is idle.

        The reply may ask the LLM and synthesise its first piece; it sends and records nothing
        until `caller_said` confirms the same turn, and `drop_held` cancels it.
        """
        self.drop_held()
        reply = self._reply
        idle = (reply is None or not reply.active) and not self._voice.speaking
        busy = self.handing_off or self._turns.waiting is not None or not self._items.empty()
        if not idle or busy or self._turns.unfinished:
            return  # (an unfinished turn's words are answered joined, once confirmed)
        self._held = HeldTurn.of(heard, self.turn_number + 1)
        self._items.put_nowait(CallerTurn(self._held.timing, self._held, self._held.message))

    def drop_held(self) -> None:
        """The held turn is void: its reply is cancelled (by its task) before it said anything."""
        held, self._held = self._held, None
        if held is None:
            return
        held.dropped = True
        reply = self._reply
        item = reply.item if reply is not None else None
        if reply is not None and reply.task is not None and getattr(item, "held", None) is held:
            reply.task.cancel()

    async def _confirm_held(self, heard: HeardTurn) -> bool:
        """`heard` confirms the held turn: it becomes the call's turn; false if none matches."""
        held = self._held
        if held is None:
            return False
        if not held.matches(heard) or held.timing.number != self.turn_number + 1:
            self.drop_held()
            return False
        self._held, self._greeting_wanted = None, False
        self._turns.advance()
        await self._send(TranscriptEvent(held.timing.number, heard.text, final=True))
        self.history.add(held.message)
        held.confirm(heard)
        return True

    async def caller_said(self, heard: HeardTurn) -> None:
        """A spoken caller turn, with its endpointing and final-transcription times."""
        if self.handing_off:
            return
        if await self._confirm_held(heard) or await self._turns.join_waiting(heard.text):
            return

        def timing(number: int) -> TurnTiming:
            timing = TurnTiming(number, heard.speech_end)
            end = max(heard.decided, heard.speech_end)
            timing.mark(LatencyStage.VAD_ENDPOINT, heard.speech_end, end)
            timing.mark(LatencyStage.ASR_FINAL, heard.asr_started, heard.asr_done)
            return timing

        if continued := await self._turns.continue_unfinished(heard.text, timing):
            self._items.put_nowait(continued)
        else:
            await self._caller_turn(heard.text, timing(self._turns.advance()))

    async def caller_said_nothing(self) -> None:
        """A turn with no words: an unfinished turn is answered again as it stands.

        A cough that cut the reply off should not leave the caller waiting for an answer.
        """
        if self.handing_off:
            return
        now = self._clock.now()
        if resumed := await self._turns.continue_unfinished("", lambda n: TurnTiming(n, now)):
            self._items.put_nowait(resumed)

    async def interrupt(self) -> Playback | None:
        """Barge-in: stop the reply and its audio at once; the client drops queued audio."""
        if self._protected:  # heard out; a caller talking over the notice wants no greeting
            self._greeting_wanted = False
            return None
        reply = self._reply
        if self._held is not None:  # nothing of it was sent: no clear
            self.drop_held()
            if reply is not None and reply.task is not None:
                await asyncio.wait({reply.task})
            return None
        active = reply is not None and reply.active
        if not active and not self._voice.speaking:
            return None
        playback = self._voice.clear()
        if reply is not None and reply.task is not None and active:
            reply.interrupted, reply.playback = True, playback
            reply.task.cancel()
            await asyncio.wait({reply.task})
            if reply.unheard and isinstance(reply.item, CallerTurn):
                self._turns.cut_unheard(reply.item)
        await self._send(ClearEvent(self.turn_number, playback.last_sequence))
        return playback

    async def run(self) -> None:
        """The work loop: one reply at a time; a failed reply is apologised for."""
        while True:
            item = await self._items.get()
            if isinstance(item, CallerTurn):
                self._turns.started(item)
            if self.handing_off and not isinstance(item, Transfer):
                continue
            if isinstance(item, CallerTurn) and item.held is not None and item.held.dropped:
                continue
            if isinstance(item, Greeting):
                if not self._greeting_wanted:
                    continue
                self._greeting_wanted = False
            failed = await self._run(Reply(item))
            if failed and not isinstance(item, Phrase):
                await self._run(Reply(Phrase(self.turn_number, APOLOGY)))

    async def _caller_turn(self, text: str, timing: TurnTiming) -> None:
        # The caller spoke before the greeting began: answer them, not greet them.
        self._greeting_wanted = False
        self._items.put_nowait(await self._turns.open(text, timing))

    async def _run(self, reply: Reply) -> bool:
        """Run one reply to its end; true when a model backend failed it."""
        self._reply = reply
        reply.task = asyncio.create_task(self._respond(reply), name=f"reply-{self._call_id}")
        try:
            await asyncio.wait({reply.task})
        finally:
            if not reply.task.done():  # the call is ending
                reply.task.cancel()
                await asyncio.gather(reply.task, return_exceptions=True)
            self.last_active = self._clock.now()
        if reply.task.cancelled():
            return False
        error = reply.task.exception()
        if isinstance(error, BackendError):
            log.warning("turn failed: %s", type(error).__name__)
            return True
        if error is not None:
            raise error
        return False

    async def _respond(self, reply: Reply) -> None:
        self._voice.start_turn()
        try:
            item = reply.item
            if isinstance(item, CallerTurn):
                await self._answerer.answer(reply, item.timing, item.held, self._run_tools)
            elif isinstance(item, Transfer):
                await self._transfer(item.turn, item.reason)
            elif isinstance(item, Notice):
                await self._notice(item.text)
            else:
                reply.unrecorded = isinstance(item, Greeting)
                reply.placeholder = ""
                await self._voice.say(item.turn if isinstance(item, Phrase) else 0, item.text)
                if isinstance(item, Greeting):
                    reply.unrecorded = False
                    self.history.add_agent_line(item.text)
        except asyncio.CancelledError:
            if reply.unheard:
                raise  # the turn goes on with the caller's next words: nothing to remember
            if reply.interrupted and reply.unrecorded and reply.playback is not None:
                heard = reply.playback.heard_text or reply.placeholder
                if heard:
                    self.history.add_agent_line(heard)
            raise

    async def _notice(self, text: str) -> None:
        """The recording notice: remembered, spoken whole, played out before the greeting."""
        self._protected = True
        try:
            self.history.add_agent_line(text)
            await self._voice.say(0, text)
            await self._voice.played_out(confirmed=False)
        finally:
            self._protected = False

    async def _transfer(self, turn: int, reason: str) -> None:
        """The handoff line, uninterruptible, then the transfer; the call ends transferred."""
        self.handing_off = self._protected = True
        await transfer(self._config, self._voice, self.history, self._send, turn, reason)
        self._on_end(EndReason.TRANSFERRED)

    async def _run_tools(self, turn: int, requests: list[ToolRequest]) -> bool:
        """Run the requested tools; true when the call ends (end_call, transfer_call)."""
        done = await self._tools.run(turn, requests)
        for message in done.messages():
            self.history.add(message)
        if done.ending is None:
            return False
        if done.ending is EndReason.TRANSFERRED:
            await self._transfer(turn, done.transfer_reason)
            return True
        await self._voice.played_out()  # let the goodbye play out
        self._on_end(done.ending)
        return True
