// Consumes with the real ali-ons push consumer and fails messages on purpose: each
// delivery is printed as one JSON line; a message whose body starts with "fail-always"
// is always failed, one starting with "fail-once" only while its reconsumeTimes is 0;
// the consumer exits after <deliveries> deliveries. Failing is throwing: ali-ons's
// listener of the %RETRY% topic drops the value its handler returns, so ACTION_RETRY
// would fail a message only once.
// usage: node consumer_retry.js <namesrv host:port> <topic> <group> <maxReconsumeTimes> <deliveries>
'use strict';

const { Consumer } = require('ali-ons');

const noHttp = require('./no_http');

async function main() {
  const [nameSrv, topic, consumerGroup, maxReconsumeTimes, deliveries] = process.argv.slice(2);
  const consumer = new Consumer({
    nameSrv,
    httpclient: noHttp,
    consumerGroup,
    instanceName: 'interop-retry',
    maxReconsumeTimes: Number(maxReconsumeTimes),
    pullTimeDelayMillsWhenException: 100,
  });
  consumer.on('error', err => console.error(`consumer error: ${err.message || err}`));
  let received = 0;
  const done = new Promise(resolve => {
    consumer.subscribe(topic, '*', async msg => {
      const body = msg.body.toString('utf8');
      const fail = body.startsWith('fail-always') ||
        (body.startsWith('fail-once') && msg.reconsumeTimes === 0);
      console.log(JSON.stringify({
        msgId: msg.msgId,
        topic: msg.topic,
        originMessageId: msg.originMessageId || null,
        retryTopic: msg.properties.RETRY_TOPIC || null,
        reconsumeTimes: msg.reconsumeTimes,
        queueId: msg.queueId,
        storeTimestamp: Number(msg.storeTimestamp),
        body,
        failed: fail,
      }));
      received += 1;
      if (received >= Number(deliveries)) resolve();
      if (fail) throw new Error(`failed on purpose: ${body}`);
    });
  });
  await consumer.ready();
  await done;
  // give the last send-back a moment to reach the broker before closing
  await new Promise(resolve => setTimeout(resolve, 2000));
  await consumer.close();
}

main().then(() => process.exit(0), err => {
  console.error(err.stack || String(err));
  process.exit(1);
});
