# Seed 000's "Python / Flask" integration example, run by test/integration/inboundWebhooks.test.ts.
# Between the markers the seed's snippet is copied verbatim but for WEBHOOK_URL's value (the host
# and token); the harness around it only serves it on a loopback port.
import os
import socket
import sys

# ---- seed 000, verbatim ----
import requests
from flask import Flask, request, jsonify
app = Flask(__name__)
WEBHOOK_URL = os.environ["WEBHOOK_URL"]
@app.route("/ask-ai", methods=["POST"])
def ask_ai():
    data = request.json
    resp = requests.post(WEBHOOK_URL, json={"message": data["question"]})
    return jsonify({"answer": resp.json()["response"]})
# ---- end of the seed's snippet ----

if __name__ == "__main__":
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()
    print(f"listening {port}", flush=True)
    sys.stdout.flush()
    app.run(host="127.0.0.1", port=port)
