#!/usr/bin/python3
"""A Kafka client round trip in Python, for the proxy suites.

    pyclient.py --lib confluent|kafka-python --bootstrap HOST:PORT --topic T
                [--count N] [--group G] [--prefix P] [--timeout SECONDS]

Lists the cluster's brokers ("broker ID HOST:PORT", one line each, sorted by
id), produces COUNT records "PREFIX-0".."PREFIX-(COUNT-1)" to TOPIC with
acks=all, then consumes TOPIC from the start in consumer group GROUP until it
has every one of them ("produced N", "consumed N"). Records of other
prefixes on the topic are ignored. Any failure prints "pyclient: ..." on
stderr and exits 1; bad arguments exit 2.

--lib confluent is python3-confluent-kafka (librdkafka); --lib kafka-python
is python3-kafka, whose protocol code is its own. Run it with Debian's
/usr/bin/python3, where those packages are installed.
"""

import argparse
import sys
import time


def fail(msg):
    print("pyclient: " + msg, file=sys.stderr, flush=True)
    sys.exit(1)


def want_values(args):
    return {"%s-%d" % (args.prefix, i) for i in range(args.count)}


def check_consumed(args, seen):
    missing = want_values(args) - seen
    if missing:
        fail("consumed %d of %d records of %s before the %ss deadline; first missing %s"
             % (args.count - len(missing), args.count, args.topic, args.timeout, sorted(missing)[0]))
    print("consumed %d" % len(seen), flush=True)


def run_confluent(args):
    import confluent_kafka
    from confluent_kafka.admin import AdminClient

    common = {"bootstrap.servers": args.bootstrap, "socket.timeout.ms": 10000}
    admin = AdminClient(dict(common))
    md = admin.list_topics(timeout=args.timeout)
    if not md.brokers:
        fail("the metadata lists no brokers")
    for bid in sorted(md.brokers):
        b = md.brokers[bid]
        print("broker %d %s:%d" % (b.id, b.host, b.port), flush=True)
    if args.topic not in md.topics:
        fail("topic %s is not in the metadata (topics: %s)" % (args.topic, ", ".join(sorted(md.topics))))

    errors = []

    def delivered(err, msg):
        if err is not None:
            errors.append(str(err))

    p = confluent_kafka.Producer(dict(common, **{"acks": "all", "message.timeout.ms": args.timeout * 1000}))
    for i in range(args.count):
        while True:
            try:
                p.produce(args.topic, value=("%s-%d" % (args.prefix, i)).encode(), on_delivery=delivered)
                break
            except BufferError:
                p.poll(0.1)
        p.poll(0)
    left = p.flush(args.timeout)
    if left:
        fail("%d records still undelivered after %ss" % (left, args.timeout))
    if errors:
        fail("%d records failed, first: %s" % (len(errors), errors[0]))
    print("produced %d" % args.count, flush=True)

    c = confluent_kafka.Consumer(dict(common, **{
        "group.id": args.group,
        "auto.offset.reset": "earliest",
        "enable.auto.commit": True,
    }))
    c.subscribe([args.topic])
    want = want_values(args)
    seen = set()
    deadline = time.monotonic() + args.timeout
    try:
        while time.monotonic() < deadline and not want <= seen:
            m = c.poll(0.5)
            if m is None:
                continue
            if m.error():
                if m.error().code() == confluent_kafka.KafkaError._PARTITION_EOF:
                    continue
                fail("consume: %s" % m.error())
            v = m.value().decode()
            if v.startswith(args.prefix + "-"):
                seen.add(v)
        check_consumed(args, seen)
    finally:
        c.close()


def run_kafka_python(args):
    import kafka
    from kafka.admin import KafkaAdminClient

    common = {"bootstrap_servers": [args.bootstrap], "request_timeout_ms": 30000}
    admin = KafkaAdminClient(**common)
    try:
        md = admin.describe_cluster()
    finally:
        admin.close()
    brokers = md.get("brokers") or []
    if not brokers:
        fail("the metadata lists no brokers")
    for b in sorted(brokers, key=lambda b: b["node_id"]):
        print("broker %d %s:%d" % (b["node_id"], b["host"], b["port"]), flush=True)

    p = kafka.KafkaProducer(acks="all", **common)
    futures = [p.send(args.topic, value=("%s-%d" % (args.prefix, i)).encode()) for i in range(args.count)]
    p.flush(timeout=args.timeout)
    for f in futures:
        try:
            f.get(timeout=args.timeout)
        except Exception as e:  # kafka.errors.KafkaError and timeouts
            fail("produce: %r" % e)
    p.close()
    print("produced %d" % args.count, flush=True)

    c = kafka.KafkaConsumer(
        args.topic,
        group_id=args.group,
        auto_offset_reset="earliest",
        enable_auto_commit=True,
        **common,
    )
    want = want_values(args)
    seen = set()
    deadline = time.monotonic() + args.timeout
    try:
        while time.monotonic() < deadline and not want <= seen:
            for tp, msgs in c.poll(timeout_ms=500).items():
                for m in msgs:
                    v = m.value.decode()
                    if v.startswith(args.prefix + "-"):
                        seen.add(v)
        check_consumed(args, seen)
    finally:
        c.close()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--lib", required=True, choices=["confluent", "kafka-python"])
    ap.add_argument("--bootstrap", required=True)
    ap.add_argument("--topic", required=True)
    ap.add_argument("--count", type=int, default=100)
    ap.add_argument("--group", default="pyclient")
    ap.add_argument("--prefix", default="py")
    ap.add_argument("--timeout", type=int, default=60)
    args = ap.parse_args()
    if args.count < 1 or args.timeout < 1:
        ap.error("--count and --timeout must be positive")
    try:
        if args.lib == "confluent":
            run_confluent(args)
        else:
            run_kafka_python(args)
    except SystemExit:
        raise
    except ImportError as e:
        fail("%s (install python3-confluent-kafka / python3-kafka and run with /usr/bin/python3)" % e)
    except Exception as e:
        fail("%s: %s" % (type(e).__name__, e))


if __name__ == "__main__":
    main()
