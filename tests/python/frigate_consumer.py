"""A real, typed Frigate event consumer from PyPI (frigate-event-handler) reading nvt's events.

    python frigate_consumer.py HOST PORT TOPIC ENDS SECONDS

Subscribes to TOPIC, prints `ready` once subscribed, then parses every message with the
consumer's own model (`EventMessage.from_json`, what its daemon does with each message) until
ENDS messages of type `end` have come or SECONDS have passed, and prints one JSON line: how many
parsed, of which types, and why the others did not.
"""

import asyncio
import json
import sys

import aiomqtt
from frigate_event_handler.models import EventMessage


async def main(host, port, topic, count, seconds):
    parsed, failures, kinds = 0, [], {}
    async with aiomqtt.Client(hostname=host, port=port) as client:
        await client.subscribe(topic, qos=1)
        print("ready", flush=True)

        async def read():
            nonlocal parsed
            async for message in client.messages:
                try:
                    event = EventMessage.from_json(message.payload.decode())
                    # Typed as the consumer types them: ints for boxes, datetimes for times.
                    assert isinstance(event.after.box.x1, int) and isinstance(event.after.area, int)
                    assert event.before.id == event.after.id
                    kinds[event.type] = kinds.get(event.type, 0) + 1
                    parsed += 1
                except Exception as error:  # noqa: BLE001 - every failure is reported
                    failures.append(f"{type(error).__name__}: {error}"[:300])
                if kinds.get("end", 0) >= count or len(failures) >= count:
                    return

        try:
            await asyncio.wait_for(read(), seconds)
        except asyncio.TimeoutError:
            pass
    print(json.dumps({"parsed": parsed, "failed": len(failures), "kinds": kinds, "failures": failures[:5]}), flush=True)


if __name__ == "__main__":
    host, port, topic, count, seconds = sys.argv[1:6]
    asyncio.run(main(host, int(port), topic, int(count), float(seconds)))
