// Consumes with the real ali-ons push consumer and prints one JSON line per message.
// usage: node consumer.js <namesrv host:port> <topic> <expected count>
'use strict';

const { Consumer } = require('ali-ons');

const noHttp = require('./no_http');

async function main() {
  const [nameSrv, topic, expected] = process.argv.slice(2);
  const consumer = new Consumer({
    nameSrv,
    httpclient: noHttp,
    consumerGroup: 'CID_rmq_interop',
    instanceName: 'interop',
    pullTimeDelayMillsWhenException: 100,
  });
  consumer.on('error', err => console.error(`consumer error: ${err.stack || err}`));
  let received = 0;
  const done = new Promise(resolve => {
    consumer.subscribe(topic, '*', async msg => {
      console.log(JSON.stringify({
        msgId: msg.msgId,
        topic: msg.topic,
        tags: msg.tags,
        keys: msg.keys,
        queueId: msg.queueId,
        queueOffset: Number(msg.queueOffset),
        commitLogOffset: Number(msg.commitLogOffset),
        bornTimestamp: Number(msg.bornTimestamp),
        storeTimestamp: Number(msg.storeTimestamp),
        properties: msg.properties,
        body: msg.body.toString('utf8'),
      }));
      received += 1;
      if (received >= Number(expected)) resolve();
    });
  });
  await consumer.ready();
  await done;
  await consumer.close();
}

main().then(() => process.exit(0), err => {
  console.error(err.stack || String(err));
  process.exit(1);
});
