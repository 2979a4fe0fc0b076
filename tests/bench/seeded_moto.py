"""Serves moto with a large organization already in it, for the scale bench.

Creating 10,000 accounts through moto's API takes a quarter of an hour, because moto
scans every account on most calls and creates an IAM backend per account. The bench
only needs the accounts to exist, so they are put straight into moto's Organizations
backend, in this process, before it serves: as ACTIVE accounts in the root with the
given tags, the state CreateAccount would have left them in. Everything else is moto's
own behaviour, unchanged.

    seeded_moto.py --port 5000 --accounts accounts.json
    # accounts.json: [{"id": "900000000001", "name": ..., "email": ..., "tags": {...}}, ...]

Prints "ready" once it serves.
"""

import argparse
import json
import time

import boto3
from moto.core.utils import utcnow
from moto.organizations.models import FakeAccount, organizations_backends
from moto.server import ThreadedMotoServer


def seed(backend, records):
    org = backend.org
    for record in records:
        account = FakeAccount.__new__(FakeAccount)
        account.type = "ACCOUNT"
        account.region = org.region
        account.organization_id = org.id
        account.master_account_id = org.master_account_id
        account.create_account_status_id = "car-" + record["id"].rjust(32, "0")
        account.id = record["id"]
        account.name = record["name"]
        account.email = record["email"]
        account.create_time = utcnow()
        account.status = "ACTIVE"
        account.state = "ACTIVE"
        account.joined_method = "CREATED"
        account.parent_id = org.root_id
        account.attached_policies = []
        account.tags = dict(record.get("tags", {}))
        backend.accounts.append(account)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--accounts", required=True)
    args = parser.parse_args()
    with open(args.accounts) as f:
        records = json.load(f)

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=args.port, verbose=False)
    server.start()
    client = boto3.client(
        "organizations",
        endpoint_url=f"http://127.0.0.1:{args.port}",
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    client.create_organization(FeatureSet="ALL")
    account_id = client.describe_organization()["Organization"]["MasterAccountId"]
    seed(organizations_backends[account_id]["aws"], records)
    print("ready", flush=True)
    while True:
        time.sleep(3600)


if __name__ == "__main__":
    main()
