import assert from "node:assert/strict";
import { connect } from "amqplib";
import {
  amqpTestUrl,
  deleteTopology,
  forceCloseConnections,
  rabbitmqctl,
  randomPrefix,
  requireRabbitMq,
  startDropProxy,
} from "../../tests/helpers/rabbitmq.ts";
import { freePort } from "../../tests/helpers/redis.ts";
import { waitUntil } from "../../tests/helpers/server.ts";
import { type LogFields, Logger, type LogLevel, nullLogger } from "../log.ts";
import { amqpNames, AmqpQueue, AmqpUnavailableError } from "./amqp_queue.ts";
import { MemoryJobBroker, MemoryQueue } from "./memory_queue.ts";
import type { CommandAnswer, CommandJob } from "./queue.ts";
import { CONTRACT_COMMANDS, makeJob, queueContract } from "./testing/queue_contract.ts";

queueContract("MemoryQueue", () => {
  const broker = new MemoryJobBroker();
  const a = new MemoryQueue(broker);
  const b = new MemoryQueue(broker);
  return Promise.resolve({
    a,
    b,
    async cleanup() {
      await a.close();
      await b.close();
    },
  });
});

queueContract("AmqpQueue", async () => {
  const url = amqpTestUrl();
  await requireRabbitMq(url);
  const prefix = randomPrefix();
  const a = new AmqpQueue({ url, prefix, log: nullLogger });
  const b = new AmqpQueue({ url, prefix, log: nullLogger });
  return {
    a,
    b,
    async cleanup() {
      await a.close();
      await b.close();
      await deleteTopology(url, prefix, CONTRACT_COMMANDS);
    },
  };
});

/** How long a case waits for a reconnect or a delivery before failing. */
const WAIT_MS = 15_000;

interface LogEntry {
  level: LogLevel;
  message: string;
  fields: LogFields;
}

function recordingLogger(): { log: Logger; entries: LogEntry[] } {
  const entries: LogEntry[] = [];
  return {
    log: new Logger("debug", (level, message, fields) => entries.push({ level, message, fields })),
    entries,
  };
}

function answerTo(job: CommandJob): CommandAnswer {
  return { job_id: job.id, command: job.command, room_id: job.room_id, bot: "echobot", content: job.arg };
}

/** A chat side and a bot side on RabbitMQ with a fresh prefix; `cleanup()` closes both and deletes the topology. */
async function amqpPair(urls: { chat?: string; bot?: string } = {}) {
  const url = amqpTestUrl();
  await requireRabbitMq(url);
  const prefix = randomPrefix();
  const chatLog = recordingLogger();
  const botLog = recordingLogger();
  const chat = new AmqpQueue({ url: urls.chat ?? url, prefix, log: chatLog.log });
  const bot = new AmqpQueue({ url: urls.bot ?? url, prefix, log: botLog.log });
  const answers: CommandAnswer[] = [];
  return {
    url,
    prefix,
    chat,
    bot,
    chatLog: chatLog.entries,
    botLog: botLog.entries,
    answers,
    async start() {
      await chat.start();
      await bot.start();
      await bot.consumeJobs("echo", (job) => Promise.resolve(answerTo(job)));
      await chat.consumeAnswers((answer) => {
        answers.push(answer);
        return Promise.resolve();
      });
    },
    async roundTrip(arg: string) {
      const job = makeJob("echo", arg);
      await chat.publishJob(job);
      await waitUntil(() => answers.some((a) => a.job_id === job.id), `the answer to ${arg}`, WAIT_MS);
    },
    async cleanup() {
      await chat.close();
      await bot.close();
      await deleteTopology(url, prefix, ["echo"]);
    },
  };
}

Deno.test("AmqpQueue: declares durable queues with dead-lettering and a single active answer consumer", async () => {
  const pair = await amqpPair();
  try {
    await pair.chat.start();
    const job = makeJob("echo", "AAPL.US");
    await pair.chat.publishJob(job); // no bot yet: the job waits in its queue
    const names = amqpNames(pair.prefix);

    const list = await rabbitmqctl([
      "list_queues",
      "-q",
      "--no-table-headers",
      "name",
      "durable",
      "arguments",
    ]);
    const queues = new Map(
      list.split("\n").filter((line) => line.startsWith(`${pair.prefix}.`)).map((line) => {
        const [name, durable, args] = line.split("\t");
        return [name, { durable, args }];
      }),
    );
    assert.deepEqual(
      [...queues.keys()].sort(),
      [names.answersQueue, names.jobQueue("echo"), names.deadQueue].sort(),
    );
    for (const [name, queue] of queues) assert.equal(queue.durable, "true", `${name} is durable`);
    assert.match(
      queues.get(names.jobQueue("echo"))!.args,
      new RegExp(`x-dead-letter-exchange.*${names.deadExchange}`),
    );
    assert.match(queues.get(names.answersQueue)!.args, /x-single-active-consumer.*true/);

    // The job is persistent JSON.
    const connection = await connect(pair.url);
    try {
      const channel = await connection.createChannel();
      const message = await channel.get(names.jobQueue("echo"), { noAck: false });
      assert.ok(message, "the job is in its queue");
      assert.equal(message.properties.deliveryMode, 2, "persistent");
      assert.equal(message.properties.contentType, "application/json");
      assert.deepEqual(JSON.parse(message.content.toString()), job);
      channel.nack(message, false, true);
      await channel.close();
    } finally {
      await connection.close();
    }
  } finally {
    await pair.cleanup();
  }
});

Deno.test("AmqpQueue: reconnects after a network cut, refusing publishes meanwhile, and consumes again", async () => {
  const proxy = startDropProxy(amqpTestUrl());
  const pair = await amqpPair({ chat: proxy.url, bot: proxy.url });
  try {
    await pair.start();
    await pair.roundTrip("before");

    proxy.down = true;
    assert.equal(proxy.drop(), 2, "both connections go through the proxy");
    await waitUntil(() => !pair.chat.connected && !pair.bot.connected, "both queues to see the cut", WAIT_MS);
    await assert.rejects(pair.chat.publishJob(makeJob("echo", "during")), (error: Error) => {
      assert.ok(error instanceof AmqpUnavailableError);
      assert.match(error.message, /not connected to RabbitMQ/);
      return true;
    });

    proxy.down = false;
    await waitUntil(() => pair.chat.connected && pair.bot.connected, "both queues to reconnect", WAIT_MS);
    await pair.roundTrip("after");
    assert.ok(
      pair.chatLog.some((e) => e.level === "warn" && e.message.includes("Lost the RabbitMQ connection")),
    );
    assert.ok(pair.botLog.some((e) => e.message === "Reconnected to RabbitMQ"));
  } finally {
    await pair.cleanup();
    await proxy.close();
  }
});

Deno.test("AmqpQueue: reconnects after RabbitMQ force-closes its connection (as when it restarts)", async () => {
  const pair = await amqpPair();
  try {
    await pair.start();
    await pair.roundTrip("before");
    const reconnected = () => pair.botLog.filter((e) => e.message === "Reconnected to RabbitMQ").length;
    assert.equal(await forceCloseConnections(pair.bot.connectionName), 1);
    await waitUntil(() => reconnected() === 1 && pair.bot.connected, "the bot to reconnect", WAIT_MS);
    await pair.roundTrip("after");
    const lost = pair.botLog.find((e) => e.message.includes("Lost the RabbitMQ connection"));
    assert.match(String(lost?.fields.error), /CONNECTION.FORCED/);
  } finally {
    await pair.cleanup();
  }
});

Deno.test("AmqpQueue: a job in flight when the bot's connection drops is handled again, not lost", async () => {
  const proxy = startDropProxy(amqpTestUrl());
  const pair = await amqpPair({ bot: proxy.url });
  try {
    await pair.chat.start();
    await pair.bot.start();
    const calls: string[] = [];
    const { promise: firstCall, resolve: firstCalled } = Promise.withResolvers<void>();
    const { promise: release, resolve: releaseFirst } = Promise.withResolvers<void>();
    await pair.bot.consumeJobs("echo", async (job) => {
      calls.push(job.id);
      if (calls.length === 1) {
        firstCalled();
        await release; // still running when the connection goes
      }
      return answerTo(job);
    });
    await pair.chat.consumeAnswers((answer) => {
      pair.answers.push(answer);
      return Promise.resolve();
    });
    const job = makeJob("echo", "in-flight");
    await pair.chat.publishJob(job);
    await firstCall;
    proxy.drop();
    await waitUntil(() => !pair.bot.connected, "the bot to see the cut", WAIT_MS);
    releaseFirst();
    await waitUntil(
      () => pair.answers.some((a) => a.job_id === job.id),
      "the answer after the redelivery",
      WAIT_MS,
    );
    assert.deepEqual(calls, [job.id, job.id], "run again after the redelivery");
    await pair.roundTrip("sentinel");
    assert.equal(pair.answers.filter((a) => a.job_id === job.id).length, 1, "answered once");
  } finally {
    await pair.cleanup();
    await proxy.close();
  }
});

Deno.test("AmqpQueue: start() fails clearly when RabbitMQ cannot be reached", async () => {
  const queue = new AmqpQueue({ url: `amqp://guest:guest@127.0.0.1:${freePort()}`, log: nullLogger });
  await assert.rejects(queue.start(), (error: Error) => {
    assert.ok(error instanceof AmqpUnavailableError);
    assert.match(error.message, /Cannot connect to RabbitMQ/);
    return true;
  });
  await assert.rejects(queue.publishJob(makeJob("echo", "x")), /not started/);
  await queue.close();
});

Deno.test("MemoryQueue: a job published with no bot waits in the broker until one subscribes", async () => {
  const broker = new MemoryJobBroker();
  const chat = new MemoryQueue(broker);
  const bot = new MemoryQueue(broker);
  try {
    await chat.publishJob(makeJob("echo", "one"));
    await chat.publishJob(makeJob("echo", "two"));
    assert.equal(broker.waitingJobs("echo"), 2);
    const handled: string[] = [];
    await bot.consumeJobs("echo", (job) => {
      handled.push(job.arg);
      return Promise.resolve(answerTo(job));
    });
    await waitUntil(() => broker.waitingAnswers === 2, "two answers", WAIT_MS);
    assert.deepEqual(handled, ["one", "two"]);
    assert.equal(broker.waitingJobs("echo"), 0);
  } finally {
    await chat.close();
    await bot.close();
  }
});

Deno.test("MemoryQueue: prefetch lets a bot run that many jobs at once", async () => {
  const broker = new MemoryJobBroker();
  const queue = new MemoryQueue(broker);
  let active = 0;
  let maxActive = 0;
  const done: string[] = [];
  try {
    await queue.consumeJobs("echo", async (job) => {
      active++;
      maxActive = Math.max(maxActive, active);
      await new Promise((resolve) => setTimeout(resolve, 10));
      active--;
      done.push(job.arg);
      return answerTo(job);
    }, { prefetch: 3 });
    for (let i = 0; i < 6; i++) await queue.publishJob(makeJob("echo", `p${i}`));
    await waitUntil(() => done.length === 6, "six jobs", WAIT_MS);
    assert.equal(maxActive, 3);
  } finally {
    await queue.close();
  }
});

Deno.test("MemoryQueue: close() cuts a retry delay short and gives the job back for the next bot", async () => {
  const broker = new MemoryJobBroker();
  const first = new MemoryQueue(broker);
  const second = new MemoryQueue(broker);
  let failures = 0;
  try {
    await first.consumeJobs("echo", () => {
      failures++;
      return Promise.reject(new Error("fails"));
    }, { retryDelayMs: () => 60_000 });
    await first.publishJob(makeJob("echo", "retried"));
    await waitUntil(() => failures === 1, "the first failure", WAIT_MS);
    await first.close(); // would leak a 60 s timer if the delay were not cut short
    const handled: string[] = [];
    await second.consumeJobs("echo", (job) => {
      handled.push(job.arg);
      return Promise.resolve(answerTo(job));
    });
    await waitUntil(() => handled.length === 1, "the job at the next bot", WAIT_MS);
    assert.deepEqual(handled, ["retried"]);
  } finally {
    await first.close();
    await second.close();
  }
});
