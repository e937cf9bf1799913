/* eslint-disable @typescript-eslint/no-require-imports -- CommonJS, as the seed's snippet is written */
/* global require, process, fetch, console */
// Seed 000's "Node.js / Express" integration example, run by test/integration/inboundWebhooks.test.ts.
// Between the markers the seed's snippet is copied verbatim but for WEBHOOK_URL's value (the
// host and token); the harness around it only listens on a loopback port.
// ---- seed 000, verbatim ----
const express = require('express');
const app = express();
app.use(express.json());
const WEBHOOK_URL = process.env.WEBHOOK_URL;
app.post('/ask-ai', async (req, res) => {
const response = await fetch(WEBHOOK_URL, {
method: 'POST',
headers: { 'Content-Type': 'application/json' },
body: JSON.stringify({ message: req.body.question }),
});
const data = await response.json();
res.json({ answer: data.response });
});
// ---- end of the seed's snippet ----
const server = app.listen(0, '127.0.0.1', () => console.log(`listening ${server.address().port}`));
