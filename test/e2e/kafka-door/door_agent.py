"""An agent on the bus, written without any Writ code: Kafka's own Python client (confluent-kafka)
and fastavro, with the .avsc files of schemas/_door (docs/kafka-door.md). Driven by the e2e test
(test/e2e/kafka-door.e2e.spec.ts) one JSON command per line on stdin, one JSON answer per line on
stdout:

  {"op": "propose", "record": {...DoorProposal...}, "topic": "...optional, default: own..."}
  {"op": "raw", "hex": "...bytes...", "topic": "..."}         a record of any bytes
  {"op": "forged", "record": {...}, "schema": {...}}          a record written with another schema
  {"op": "await", "idempotency_key": "k", "kind": "ended", "offset": 12, "skip": 1, "timeout": 30}
                                                              offset: optional; skip: wait for a later one (a redelivery)
  {"op": "outcomes", "idempotency_key": "k", "timeout": 1}   every outcome of the key read so far (after polling)
  {"op": "await_offset", "offset": 12, "timeout": 30}         the rejection of an undecodable record
  {"op": "read", "topic": "...", "timeout": 10}               try to read a topic (another agent's)

Usage: door_agent.py <bootstrap> <principal> <password file> <schemas dir>
"""
import io
import json
import sys
import time

from confluent_kafka import Consumer, KafkaError, KafkaException, Producer, TopicPartition
from fastavro import parse_schema, schemaless_reader, schemaless_writer
from fastavro.schema import fingerprint, to_parsing_canonical_form

bootstrap, principal, password_file, schemas_dir = sys.argv[1:5]
with open(password_file, encoding="utf8") as f:
    password = f.read().strip()


def load(name):
    with open(f"{schemas_dir}/{name}", encoding="utf8") as f:
        return json.load(f)


def header(schema):
    # Avro single-object encoding: C3 01, then the CRC-64-AVRO fingerprint (fastavro gives its bytes, little-endian).
    return b"\xc3\x01" + bytes.fromhex(fingerprint(to_parsing_canonical_form(schema), "CRC-64-AVRO"))


PROPOSAL = load("DoorProposal.v1.avsc")
PROPOSAL_PARSED = parse_schema(PROPOSAL)
# Every released DoorOutcome version, by the fingerprint its records carry; read as the latest (v2):
# the gateway writes accepted, rejected and ended as v1 and held as v2 (Avro schema resolution fills
# v2's `approval` with its default for a v1 record).
OUTCOME_VERSIONS = [load(f"DoorOutcome.v{version}.avsc") for version in (1, 2)]
OUTCOME_READER = parse_schema(OUTCOME_VERSIONS[-1])
OUTCOME_WRITERS = {header(schema): parse_schema(schema) for schema in OUTCOME_VERSIONS}

own_proposals = f"writ.door.{principal}.proposals.v1"
own_outcomes = f"writ.door.{principal}.outcomes.v1"
security = {
    "bootstrap.servers": bootstrap,
    "security.protocol": "SASL_PLAINTEXT",
    "sasl.mechanism": "SCRAM-SHA-512",
    "sasl.username": principal,
    "sasl.password": password,
}


def encode(schema, parsed, record):
    body = io.BytesIO()
    schemaless_writer(body, parsed, record)
    return header(schema) + body.getvalue()


def send(topic, value, key=None):
    errors, offsets = [], []

    def delivered(err, msg):
        if err:
            errors.append(err)
        else:
            offsets.append(msg.offset())

    producer = Producer({**security, "acks": "all", "message.timeout.ms": 10000})
    producer.produce(topic, value=value, key=key, on_delivery=delivered)
    left = producer.flush(15)
    if errors:
        return {"error": errors[0].name(), "message": errors[0].str()}
    if left:
        return {"error": "NOT_DELIVERED"}
    return {"ok": True, "offset": offsets[0]}


outcomes = []
skipped = []
reader = Consumer({**security, "group.id": f"writ.door.{principal}.e2e", "enable.auto.commit": False, "auto.offset.reset": "earliest"})
# Only what is written from now on: earlier runs of the suite answered other proposals.
low, high = reader.get_watermark_offsets(TopicPartition(own_outcomes, 0), timeout=10)
reader.assign([TopicPartition(own_outcomes, 0, high)])


def poll_outcomes(seconds):
    msg = reader.poll(seconds)
    if msg is None or msg.error():
        return
    value = msg.value()
    writer = OUTCOME_WRITERS.get(value[:10])
    if writer is None:
        # A version this agent does not know (a later one): skip it, as docs/kafka-door.md says.
        skipped.append(value[:10].hex())
        return
    outcome = schemaless_reader(io.BytesIO(value[10:]), writer, OUTCOME_READER)
    # fastavro reads timestamp-millis as a datetime: back to milliseconds, as on the wire.
    outcome["occurred_at"] = millis(outcome["occurred_at"])
    if outcome.get("approval"):
        for name in ("requested_at", "expires_at"):
            outcome["approval"][name] = millis(outcome["approval"][name])
    outcomes.append(outcome)


def millis(value):
    return None if value is None else int(value.timestamp() * 1000)


def wait_for(match, timeout, skip=0):
    deadline = time.time() + timeout
    while time.time() < deadline:
        found = [o for o in outcomes if match(o)]
        if len(found) > skip:
            return {"ok": True, "outcome": found[skip]}
        poll_outcomes(0.2)
    return {"error": "TIMEOUT", "seen": outcomes[-5:]}


def read_topic(topic, timeout):
    errors = []
    consumer = Consumer(
        {
            **security,
            "group.id": f"writ.door.{principal}.spy",
            "auto.offset.reset": "earliest",
            "error_cb": lambda err: errors.append(err.name()),
        }
    )
    try:
        consumer.subscribe([topic])
        deadline = time.time() + timeout
        while time.time() < deadline:
            msg = consumer.poll(0.5)
            if "TOPIC_AUTHORIZATION_FAILED" in errors:
                break
            if msg is None:
                continue
            if msg.error():
                errors.append(msg.error().name())
                if msg.error().code() in (KafkaError.TOPIC_AUTHORIZATION_FAILED, KafkaError.GROUP_AUTHORIZATION_FAILED):
                    break
                continue
            return {"ok": True, "read": True}
    except KafkaException as e:
        errors.append(e.args[0].name())
    finally:
        consumer.close()
    if "TOPIC_AUTHORIZATION_FAILED" in errors:
        return {"error": "TOPIC_AUTHORIZATION_FAILED"}
    return {"error": errors[0] if errors else "NOTHING_READ"}


def handle(command):
    op = command["op"]
    if op == "propose":
        return send(command.get("topic", own_proposals), encode(PROPOSAL, PROPOSAL_PARSED, command["record"]), command.get("key"))
    if op == "raw":
        return send(command.get("topic", own_proposals), bytes.fromhex(command["hex"]))
    if op == "forged":
        return send(command.get("topic", own_proposals), encode(command["schema"], parse_schema(command["schema"]), command["record"]))
    if op == "await":
        key, kind, offset = command["idempotency_key"], command["kind"], command.get("offset")
        return wait_for(
            lambda o: o["idempotency_key"] == key and o["kind"] == kind and offset in (None, o["proposal_offset"]),
            command.get("timeout", 30),
            command.get("skip", 0),
        )
    if op == "outcomes":
        deadline = time.time() + command.get("timeout", 1)
        while time.time() < deadline:
            poll_outcomes(0.2)
        key = command["idempotency_key"]
        return {"ok": True, "outcomes": [o for o in outcomes if o["idempotency_key"] == key], "skipped": skipped}
    if op == "await_offset":
        offset = command["offset"]
        return wait_for(lambda o: o["proposal_offset"] == offset and o["kind"] == "rejected", command.get("timeout", 30))
    if op == "read":
        return read_topic(command["topic"], command.get("timeout", 10))
    return {"error": "UNKNOWN_OP"}


print(json.dumps({"ready": True}), flush=True)
for line in sys.stdin:
    if line.strip():
        try:
            answer = handle(json.loads(line))
        except Exception as e:  # the test shows it
            answer = {"error": "EXCEPTION", "message": repr(e)}
        print(json.dumps(answer, default=str), flush=True)
reader.close()
