// Consumes with the real ali-ons push consumer and an SQL92 subscription; prints one JSON
// line per message.
// usage: node consumer_sql.js <namesrv host:port> <topic> <group> <SQL92 expression> <expected count>
'use strict';

const { Consumer } = require('ali-ons');

const noHttp = require('./no_http');

async function main() {
  const [nameSrv, topic, group, expression, expected] = process.argv.slice(2);
  const consumer = new Consumer({
    nameSrv,
    httpclient: noHttp,
    consumerGroup: group,
    instanceName: 'interop-sql',
    pullTimeDelayMillsWhenException: 100,
  });
  consumer.on('error', err => console.error(`consumer error: ${err.stack || err}`));
  let received = 0;
  const done = new Promise(resolve => {
    const selector = { expressionType: 'SQL92', subString: expression };
    consumer.subscribe(topic, selector, async msg => {
      console.log(JSON.stringify({
        topic: msg.topic,
        queueId: msg.queueId,
        queueOffset: Number(msg.queueOffset),
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
