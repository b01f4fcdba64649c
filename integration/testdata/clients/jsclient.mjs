// A Kafka client round trip with kafkajs (pure JavaScript), for the proxy
// suites.
//
//   node jsclient.mjs --bootstrap HOST:PORT --topic T [--count N]
//                     [--group G] [--prefix P] [--timeout SECONDS]
//
// Lists the cluster's brokers ("broker ID HOST:PORT", one line each, sorted
// by id), produces COUNT records "PREFIX-0".."PREFIX-(COUNT-1)" to TOPIC with
// acks=all, then consumes TOPIC from the start in consumer group GROUP until
// it has every one of them ("produced N", "consumed N"). Any failure prints
// "jsclient: ..." on stderr and exits 1; bad arguments exit 2. kafkajs comes
// from node_modules beside this file (npm ci).

import { parseArgs } from "node:util";
import { createRequire } from "node:module";

const require = createRequire(import.meta.url);

function fail(msg, code = 1) {
  process.stderr.write(`jsclient: ${msg}\n`);
  process.exit(code);
}

let opts;
try {
  opts = parseArgs({
    options: {
      bootstrap: { type: "string" },
      topic: { type: "string" },
      count: { type: "string", default: "100" },
      group: { type: "string", default: "jsclient" },
      prefix: { type: "string", default: "js" },
      timeout: { type: "string", default: "60" },
    },
  }).values;
} catch (e) {
  fail(e.message, 2);
}
const count = Number(opts.count);
const timeout = Number(opts.timeout);
if (!opts.bootstrap || !opts.topic) fail("--bootstrap and --topic are required", 2);
if (!Number.isInteger(count) || count < 1 || !Number.isInteger(timeout) || timeout < 1) {
  fail("--count and --timeout must be positive integers", 2);
}

let kafkajs;
try {
  kafkajs = require("kafkajs");
} catch (e) {
  fail(`${e.message} (run npm ci in ${new URL(".", import.meta.url).pathname})`);
}
const { Kafka, logLevel } = kafkajs;

const kafka = new Kafka({
  clientId: "jsclient",
  brokers: [opts.bootstrap],
  logLevel: logLevel.ERROR,
  connectionTimeout: 10000,
  requestTimeout: 30000,
  retry: { retries: 5 },
});

const seen = new Set();
let stage = "connecting";
const timer = setTimeout(() => fail(`${stage}: not done after ${timeout}s (consumed ${seen.size} of ${count})`), timeout * 1000);

async function main() {
  stage = "metadata";
  const admin = kafka.admin();
  await admin.connect();
  const { brokers } = await admin.describeCluster();
  await admin.disconnect();
  if (!brokers.length) fail("the metadata lists no brokers");
  for (const b of [...brokers].sort((a, b) => a.nodeId - b.nodeId)) {
    console.log(`broker ${b.nodeId} ${b.host}:${b.port}`);
  }

  stage = "produce";
  const producer = kafka.producer();
  await producer.connect();
  const messages = [];
  for (let i = 0; i < count; i++) messages.push({ value: `${opts.prefix}-${i}` });
  for (let i = 0; i < messages.length; i += 500) {
    await producer.send({ topic: opts.topic, acks: -1, messages: messages.slice(i, i + 500) });
  }
  await producer.disconnect();
  console.log(`produced ${count}`);

  stage = "consume";
  const want = new Set(messages.map((m) => m.value));
  const consumer = kafka.consumer({ groupId: opts.group, maxWaitTimeInMs: 200 });
  await consumer.connect();
  await consumer.subscribe({ topic: opts.topic, fromBeginning: true });
  await new Promise((resolve, reject) => {
    consumer.on(consumer.events.CRASH, (e) => reject(e.payload.error));
    consumer
      .run({
        eachMessage: async ({ message }) => {
          const v = message.value.toString();
          if (want.has(v)) seen.add(v);
          if (seen.size === want.size) resolve();
        },
      })
      .catch(reject);
  });
  await consumer.disconnect();
  console.log(`consumed ${seen.size}`);
}

main().then(
  () => {
    clearTimeout(timer);
    process.exit(0);
  },
  (e) => fail(`${e.name || "Error"}: ${e.message}`),
);
