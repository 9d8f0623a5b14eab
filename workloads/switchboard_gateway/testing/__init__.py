"""A harness that runs a whole call in milliseconds: virtual time, fake models, a scripted caller.

    script = CallScript().say(at=1.0, seconds=1.2, text="What time do you open?").hangup(at=6)
    result = asyncio.run(run_scripted_call(agent_config(), script))

(`script.CallScript`; `calls.run_scripted_call`, `calls.agent_config`; `fakes`; `clock`.)

Nothing here touches the network or a model. `FakeClock` is the session's clock: sleeps resolve
when the harness advances virtual time, 20 ms per caller frame. Caller speech is a constant
level per utterance, so `EnergyVad` hears it and `FakeTranscriber` knows which utterance (and
how much of it) a pass was given; `FakeChatModel` answers from a script or echoes the caller;
`FakeSynthesizer` speaks 300 ms per word. Real models are the `models` test tier's business.
"""
