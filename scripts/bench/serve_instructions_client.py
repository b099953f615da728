"""The client of scripts/bench/serve-instructions: waits for the server, posts RECORDS records with
random ids over one keep-alive connection (or, for the healthz case, sends RECORDS GET /healthz),
checks every answer, and waits for nothing else."""
import argparse
import http.client
import json
import secrets
import sys
import time


def record(n):
    rid = secrets.token_hex(8) + "-" + str(n)
    return ('{"id":"%s","service":"bot","operation":"chat","model":"gpt-4o-mini","user_id":"u%d",'
            '"input_tokens":1200,"output_tokens":300,"duration_ms":850}' % (rid, n % 1000))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--case", required=True, choices=["array-1000", "ndjson-1000", "single", "healthz"])
    parser.add_argument("--records", type=int, required=True)
    args = parser.parse_args()

    deadline = time.monotonic() + 300
    while True:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", args.port, timeout=600)
            conn.request("GET", "/healthz")
            if conn.getresponse().read() is not None:
                break
        except OSError:
            if time.monotonic() > deadline:
                sys.exit("the server did not answer /healthz within 300 s")
            time.sleep(0.5)

    if args.case == "healthz":
        for _ in range(args.records):
            conn.request("GET", "/healthz")
            response = conn.getresponse()
            if response.status != 200 or json.loads(response.read()).get("status") != "ok":
                sys.exit(f"GET /healthz answered {response.status}")
        print(f"sent {args.records} requests")
        return

    per_body = 1 if args.case == "single" else 1000
    content_type = "application/x-ndjson" if args.case.startswith("ndjson") else "application/json"
    sent = 0
    while sent < args.records:
        records = [record(sent + i) for i in range(per_body)]
        if args.case == "single":
            body = records[0]
        elif args.case.startswith("ndjson"):
            body = "\n".join(records) + "\n"
        else:
            body = "[" + ",".join(records) + "]"
        conn.request("POST", "/v1/usage", body=body.encode(), headers={"Content-Type": content_type})
        response = conn.getresponse()
        answer = json.loads(response.read())
        if response.status != 200 or answer.get("accepted") != per_body:
            sys.exit(f"POST answered {response.status}: {answer}")
        sent += per_body
    print(f"posted {sent} records")


if __name__ == "__main__":
    main()
