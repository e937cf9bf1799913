/* eslint-disable @typescript-eslint/no-require-imports -- CommonJS, as the seed's snippet is written */
/* global require, process, Buffer */
// Seed 003's sample receiver ("Signature Verification — Example (Node.js)"), run by
// test/integration/automation.test.ts against real deliveries. Between the markers the seed's
// snippet is copied verbatim; only the harness around it is ours: Express with its JSON body
// parser (what `req.body` in the snippet assumes), a loopback port, and a log of what the
// snippet's route was given and answered. The secret comes in through WEBHOOK_SECRET, as the
// snippet reads it.
const express = require('express');

const app = express();
app.use(express.json());
const seen = [];
app.use((req, res, next) => {
  if (req.method === 'POST') res.on('finish', () => seen.push({ status: res.statusCode, body: req.body }));
  next();
});
app.get('/seen', (req, res) => res.json(seen));

// ---- seed 003, verbatim ----
const crypto = require('crypto');
function verifyWebhookSignature(payload, signature, secret) {
const expectedSignature = crypto
.createHmac('sha256', secret)
.update(JSON.stringify(payload))
.digest('hex');
return crypto.timingSafeEqual(
Buffer.from(signature),
Buffer.from(expectedSignature)
);
}
app.post('/webhooks', (req, res) => {
const signature = req.headers['x-webhook-signature'];
const secret = process.env.WEBHOOK_SECRET;
if (!verifyWebhookSignature(req.body, signature, secret)) {
return res.status(401).json({ error: 'Invalid signature' });
}
// Process webhook...
res.status(200).json({ received: true });
});
// ---- end of seed 003 ----

const server = app.listen(0, '127.0.0.1', () => {
  process.stdout.write(`${JSON.stringify({ port: server.address().port })}\n`);
});
process.on('SIGTERM', () => server.close(() => process.exit(0)));
