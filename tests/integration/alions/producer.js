// Sends messages with the real ali-ons producer and prints one JSON line per result.
// usage: node producer.js <namesrv host:port> <topic> <count>
'use strict';

const { Producer, Message } = require('ali-ons');

const noHttp = require('./no_http');

async function main() {
  const [nameSrv, topic, count] = process.argv.slice(2);
  const producer = new Producer({
    nameSrv,
    httpclient: noHttp,
    producerGroup: 'PID_rmq_interop',
    instanceName: 'interop',
    sendMsgTimeout: 5000,
  });
  producer.on('error', err => {
    console.error(`producer error: ${err.stack || err}`);
    process.exitCode = 2;
  });
  await producer.ready();
  for (let i = 0; i < Number(count); i++) {
    const msg = new Message(topic, 'TagA', `hello from ali-ons #${i}`);
    msg.keys = [`key-${i}`];
    const result = await producer.send(msg);
    console.log(JSON.stringify({
      sendStatus: result.sendStatus,
      msgId: result.msgId,
      queueId: result.messageQueue.queueId,
      brokerName: result.messageQueue.brokerName,
      queueOffset: result.queueOffset,
    }));
  }
  await producer.close();
}

// ali-ons leaves timers behind after close(); exit once the work is done.
main().then(() => process.exit(process.exitCode || 0), err => {
  console.error(err.stack || String(err));
  process.exit(1);
});
